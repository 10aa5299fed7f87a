"""How many EBS volumes an instance can have attached, by instance type, and which device names
AttachVolume accepts. Pure data: no I/O. Next to the instance-type catalogue (instance_types.py).

Two kinds of limit (EC2 User Guide, "Amazon EBS volume limits for Amazon EC2 instances"; the figures
DescribeInstanceTypes reports as EbsInfo.MaximumEbsAttachments and AttachmentLimitType):

- shared: most Nitro instances have 28 attachment slots shared by network interfaces, EBS volumes
  (the root volume included) and NVMe instance-store volumes. EC2 reports MaximumEbsAttachments 27
  for them: the 28 less the primary network interface. Every further interface takes one more slot.
- dedicated: 7th-generation Intel and AMD instances (m7i, c7i, r7i in the catalogue) have slots of
  their own for EBS volumes, however many interfaces they have: 32 up to 12xlarge, 48 for 16xlarge,
  64 for 24xlarge.

Figures: kubernetes-sigs/aws-ebs-csi-driver pkg/cloud/limits/volume_limits_table.go (generated from
DescribeInstanceTypes; Nitro types not listed there have the default, shared 27): m7i/c7i/r7i .large
to .12xlarge 32 dedicated, .16xlarge 48, .24xlarge 64; t3, m5, c5, r5, m6i, c6i, r6i, m6g, m7g, c7g
(no instance store, not metal) 27 shared. No catalogue type has NVMe instance store.
"""

from __future__ import annotations

import re

from .instance_types import CATALOG

SHARED = "shared"
DEDICATED = "dedicated"
NITRO_SHARED_SLOTS = 28
DEFAULT_SHARED_EBS_ATTACHMENTS = NITRO_SHARED_SLOTS - 1  # less the primary network interface
ROOT_DEVICE = "/dev/xvda"

_DEDICATED_FAMILIES = ("m7i", "c7i", "r7i")
_DEDICATED_BY_SIZE = {"16xlarge": 48, "24xlarge": 64}
_DEDICATED_DEFAULT = 32


def _limit_of(name: str) -> tuple[int, str]:
    family, size = name.split(".", 1)
    if family in _DEDICATED_FAMILIES:
        return _DEDICATED_BY_SIZE.get(size, _DEDICATED_DEFAULT), DEDICATED
    return DEFAULT_SHARED_EBS_ATTACHMENTS, SHARED


# instance type -> (MaximumEbsAttachments, AttachmentLimitType), for every catalogue type.
EBS_ATTACHMENT_LIMITS: dict[str, tuple[int, str]] = {name: _limit_of(name) for name in CATALOG}


def max_volume_attachments(instance_type: str, network_interfaces: int = 1, instance_store_volumes: int = 0) -> int:
    """EBS volumes (the root volume included) the instance can have attached."""
    limit, kind = EBS_ATTACHMENT_LIMITS.get(instance_type, (DEFAULT_SHARED_EBS_ATTACHMENTS, SHARED))
    if kind == DEDICATED:
        return limit
    return max(0, limit - (network_interfaces - 1) - instance_store_volumes)


# Device names AttachVolume accepts for a data volume on a Linux instance (EC2 User Guide, "Device
# names for volumes on Amazon EC2 instances": /dev/sd[b-z] and /dev/xvd[b-z] are available; the EBS
# CSI driver's allocator uses /dev/xvd[a-d][a-z]). /dev/xvda and /dev/sda1 are root devices.
_DEVICE_NAME = re.compile(r"^/dev/(sd[b-z]|xvd[b-z]|xvd[a-d][a-z])$")


def is_valid_device(name: str) -> bool:
    return bool(_DEVICE_NAME.match(name))


def with_ebs_attachment_limits(info: dict) -> dict:
    """An InstanceTypeInfo with EbsInfo's MaximumEbsAttachments and AttachmentLimitType, as EC2 reports them."""
    limit, kind = EBS_ATTACHMENT_LIMITS.get(info["InstanceType"], (DEFAULT_SHARED_EBS_ATTACHMENTS, SHARED))
    return {**info, "EbsInfo": {**info["EbsInfo"], "MaximumEbsAttachments": limit, "AttachmentLimitType": kind}}
