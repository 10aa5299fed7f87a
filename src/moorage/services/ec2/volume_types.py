"""EBS volume types as a table: sizes, IOPS, throughput, their defaults and ratios, and the checks
CreateVolume and ModifyVolume make against them. Pure data and arithmetic: no I/O.

Where the numbers come from (read 2026-12): botocore's EC2 model (1.44.5), the documentation of
CreateVolume's and ModifyVolume's Size, Iops and Throughput members, which is AWS's API reference
text; the ratios from the EBS User Guide's "Amazon EBS volume types" page:

| type     | size GiB  | IOPS                          | max IOPS/GiB | throughput MiB/s        |
|----------|-----------|-------------------------------|--------------|-------------------------|
| gp2      | 1-16384   | 3/GiB, at least 100, <= 16000 | (derived)    | -                       |
| gp3      | 1-65536   | 3000 (default) - 80000        | 500          | 125 (default) - 2000,   |
|          |           |                               |              | at most 0.25 per IOPS   |
| io1      | 4-16384   | 100-64000, required           | 50           | -                       |
| io2      | 4-65536   | 100-256000, required          | 1000         | -                       |
| st1, sc1 | 125-16384 | -                             | -            | -                       |
| standard | 1-1024    | -                             | -            | -                       |

Multi-Attach is for io1 and io2 only; Throughput is for gp3 only; Iops is for gp3, io1 and io2.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...core.errors import AwsError

DEFAULT_VOLUME_TYPE = "gp2"  # CreateVolume's documented default
GP2_IOPS_PER_GIB = 3
GP2_MIN_IOPS = 100
GP2_MAX_IOPS = 16000
GP3_MAX_THROUGHPUT_PER_IOPS = 0.25


@dataclass(frozen=True)
class VolumeType:
    name: str
    min_size: int
    max_size: int
    min_iops: int | None = None  # None: Iops may not be given
    max_iops: int | None = None
    default_iops: int | None = None  # None with min_iops set: Iops is required
    max_iops_per_gib: int | None = None
    min_throughput: int | None = None  # None: Throughput may not be given
    max_throughput: int | None = None
    default_throughput: int | None = None
    multi_attach: bool = False

    @property
    def provisioned_iops(self) -> bool:
        return self.min_iops is not None


VOLUME_TYPES: dict[str, VolumeType] = {
    t.name: t
    for t in (
        VolumeType("gp2", 1, 16384),
        VolumeType("gp3", 1, 65536, min_iops=3000, max_iops=80000, default_iops=3000, max_iops_per_gib=500,
                   min_throughput=125, max_throughput=2000, default_throughput=125),
        VolumeType("io1", 4, 16384, min_iops=100, max_iops=64000, max_iops_per_gib=50, multi_attach=True),
        VolumeType("io2", 4, 65536, min_iops=100, max_iops=256000, max_iops_per_gib=1000, multi_attach=True),
        VolumeType("st1", 125, 16384),
        VolumeType("sc1", 125, 16384),
        VolumeType("standard", 1, 1024),
    )
}


def gp2_iops(size: int) -> int:
    """A gp2 volume's baseline IOPS: 3 per GiB, at least 100, at most 16,000."""
    return max(GP2_MIN_IOPS, min(GP2_MAX_IOPS, GP2_IOPS_PER_GIB * size))


def volume_type(name: str) -> VolumeType:
    found = VOLUME_TYPES.get(name)
    if found is None:
        raise AwsError("InvalidParameterValue", f"Value ({name}) for parameter volumeType is invalid.")
    return found


@dataclass(frozen=True)
class Settings:
    """What a volume is provisioned with: the figures DescribeVolumes reports."""

    volume_type: str
    size: int
    iops: int | None
    throughput: int | None
    multi_attach: bool

    def as_fields(self) -> dict:
        fields: dict = {"VolumeType": self.volume_type, "Size": self.size, "MultiAttachEnabled": self.multi_attach}
        if self.volume_type == "gp2":
            fields["Iops"] = gp2_iops(self.size)
        elif self.iops is not None:
            fields["Iops"] = self.iops
        if self.throughput is not None:
            fields["Throughput"] = self.throughput
        return fields


def check_settings(type_name: str, size: int, iops: int | None, throughput: int | None, multi_attach: bool,
                   iops_default: int | None = None, throughput_default: int | None = None) -> Settings:
    """Validate a volume's settings as EBS does and fill in the defaults. `iops_default` and
    `throughput_default` replace the type's defaults (ModifyVolume keeps a gp3 volume's own)."""
    kind = volume_type(type_name)
    if size < kind.min_size:
        raise AwsError("InvalidParameterValue", f"Volume of {size}GiB is too small; minimum is {kind.min_size}GiB.")
    if size > kind.max_size:
        raise AwsError("InvalidParameterValue", f"Volume of {size}GiB is too large; maximum is {kind.max_size}GiB.")
    if iops is not None and not kind.provisioned_iops:
        raise AwsError("InvalidParameterCombination", f"The parameter iops is not supported for {type_name} volumes.")
    if throughput is not None and kind.min_throughput is None:
        raise AwsError("InvalidParameterCombination", f"The parameter throughput is not supported for {type_name} volumes.")
    if multi_attach and not kind.multi_attach:
        raise AwsError("InvalidParameterCombination", f"The parameter multiAttachEnabled is not supported for {type_name} volumes.")
    if kind.provisioned_iops:
        if iops is None:
            iops = iops_default if iops_default is not None else kind.default_iops
        if iops is None:
            raise AwsError("MissingParameter", f"The request must contain the parameter iops for {type_name} volumes.")
        if iops < kind.min_iops:
            raise AwsError("InvalidParameterValue", f"Volume iops of {iops} is too low; minimum is {kind.min_iops}.")
        if iops > kind.max_iops:
            raise AwsError("InvalidParameterValue", f"Volume iops of {iops} is too high; maximum is {kind.max_iops}.")
        # gp3's baseline 3,000 IOPS come with any size; above the baseline (and always for io1/io2) the ratio binds.
        if iops > (kind.default_iops or 0) and iops > kind.max_iops_per_gib * size:
            raise AwsError(
                "InvalidParameterValue",
                f"Iops to volume size ratio of {iops / size:.6f} is too high; maximum is {kind.max_iops_per_gib:.6f}",
            )
    if kind.min_throughput is not None:
        if throughput is None:
            throughput = throughput_default if throughput_default is not None else kind.default_throughput
        if throughput < kind.min_throughput:
            raise AwsError("InvalidParameterValue", f"Throughput of {throughput}MiBps is too low; minimum is {kind.min_throughput}MiBps.")
        if throughput > kind.max_throughput:
            raise AwsError("InvalidParameterValue", f"Throughput of {throughput}MiBps is too high; maximum is {kind.max_throughput}MiBps.")
        if throughput > kind.default_throughput and throughput / iops > GP3_MAX_THROUGHPUT_PER_IOPS:
            raise AwsError(
                "InvalidParameterValue",
                f"Throughput (MiBps) to iops ratio of {throughput / iops:.6f} is too high; maximum is "
                f"{GP3_MAX_THROUGHPUT_PER_IOPS:.6f} MiBps per iops.",
            )
    return Settings(type_name, size, iops if kind.provisioned_iops else None,
                    throughput if kind.min_throughput is not None else None, bool(multi_attach))
