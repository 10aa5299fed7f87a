"""EBS Elastic Volumes: ModifyVolume and DescribeVolumesModifications.

A modification changes size (only upwards), type, IOPS, throughput or Multi-Attach within the same
per-type limits as CreateVolume (volume_types.py). As on AWS (EBS User Guide, "Modify a volume":
"you must wait for that modification to reach the completed state before you can initiate another
modification for the same volume. You can modify a volume up to four times within a rolling 24-hour
period"), a volume whose last modification is not completed is refused with
IncorrectModificationState, and a fifth modification within 24 hours with
VolumeModificationRateExceeded.

ModifyVolume writes the volume's new settings and the modification record (kind
"volume-modification", named by the volume id: its latest modification and the start times of the
last 24 hours) in one transaction; the modification's state, modifying -> optimizing -> completed,
is derived from its start time (volume_states.py).
"""

from __future__ import annotations

import copy
import time
from typing import Any, Callable

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import VOLUME_MODIFICATION
from ...store import AlreadyExists, Conflict, Key
from ..base import match_filters
from .filters import FILTERS
from .network_ops import page
from .volume_states import modification_end, modification_state, volume_created
from .volume_types import check_settings
from .volumes import EbsStore, check_volume_id, iso, iso_text, volume_not_found

MAX_MODIFICATIONS_PER_WINDOW = 4
WINDOW_SECONDS = 24 * 3600
RETYPED_DEFAULT_IOPS = 3000  # ModifyVolume: "If you change the volume type to io1, io2, or gp3, the default is 3,000"


def _settings_fields(spec: dict) -> dict:
    return {"size": spec["size"], "volumeType": spec["volumeType"], "iops": spec.get("iops"),
            "throughput": spec.get("throughput"), "multiAttach": spec["multiAttach"]}


def modification_view(spec: dict, now: float) -> dict:
    state, progress = modification_state(spec["startTime"], now)
    original, target = spec["original"], spec["target"]
    view = {
        "VolumeId": spec["volumeId"],
        "ModificationState": state,
        "TargetSize": target["size"],
        "TargetVolumeType": target["volumeType"],
        "TargetMultiAttachEnabled": target["multiAttach"],
        "OriginalSize": original["size"],
        "OriginalVolumeType": original["volumeType"],
        "OriginalMultiAttachEnabled": original["multiAttach"],
        "Progress": progress,
        "StartTime": iso(spec["startTime"]),
    }
    for side, fields in (("Target", target), ("Original", original)):
        shown = check_settings(fields["volumeType"], fields["size"], fields["iops"], fields["throughput"], fields["multiAttach"]).as_fields()
        for member in ("Iops", "Throughput"):
            if member in shown:
                view[f"{side}{member}"] = shown[member]
    if state == "completed":
        view["EndTime"] = iso(modification_end(spec["startTime"]))
    return view


MODIFICATION_FILTERS: dict[str, Callable[[dict], Any]] = {
    "volume-id": lambda m: m["VolumeId"],
    "modification-state": lambda m: m["ModificationState"],
    "target-size": lambda m: m["TargetSize"],
    "target-iops": lambda m: m.get("TargetIops"),
    "target-volume-type": lambda m: m["TargetVolumeType"],
    "target-throughput": lambda m: m.get("TargetThroughput"),
    "target-multi-attach-enabled": lambda m: m["TargetMultiAttachEnabled"],
    "targetMultiAttachEnabled": lambda m: m["TargetMultiAttachEnabled"],  # the spelling the API reference lists
    "original-size": lambda m: m["OriginalSize"],
    "original-iops": lambda m: m.get("OriginalIops"),
    "original-volume-type": lambda m: m["OriginalVolumeType"],
    "original-throughput": lambda m: m.get("OriginalThroughput"),
    "original-multi-attach-enabled": lambda m: m["OriginalMultiAttachEnabled"],
    "originalMultiAttachEnabled": lambda m: m["OriginalMultiAttachEnabled"],
    "start-time": lambda m: iso_text(m["StartTime"].timestamp()),
}
FILTERS["DescribeVolumesModifications"] = MODIFICATION_FILTERS


class VolumeModificationOperations(EbsStore):
    def _target(self, spec: dict, params: dict):
        target_type = params.get("VolumeType") or spec["volumeType"]
        size = params.get("Size", spec["size"])
        if size < spec["size"]:
            raise AwsError("InvalidParameterValue", "New size cannot be smaller than existing size")
        same_type = target_type == spec["volumeType"]
        iops_default = spec.get("iops") if same_type else RETYPED_DEFAULT_IOPS
        throughput_default = spec.get("throughput") if same_type else None
        multi_attach = params.get("MultiAttachEnabled", spec["multiAttach"] if target_type in ("io1", "io2") else False)
        return check_settings(target_type, size, params.get("Iops"), params.get("Throughput"), bool(multi_attach),
                              iops_default=iops_default, throughput_default=throughput_default)

    def ModifyVolume(self, ctx: RequestContext, params: dict) -> dict:
        volume_id = params["VolumeId"]
        key = Key(ctx.account, ctx.region, VOLUME_MODIFICATION, volume_id)
        while True:
            volume = self._volume_record(ctx, volume_id)
            now = time.time()
            if not volume_created(volume.spec, now):
                raise AwsError("IncorrectState", f"Volume '{volume_id}' is in the 'creating' state.")
            previous = self.store.get(key)
            starts: list[float] = []
            if previous is not None:
                state, _ = modification_state(previous.spec["startTime"], now)
                if state != "completed":
                    raise AwsError("IncorrectModificationState",
                                   f"Volume {volume_id} cannot be modified in modification state {state.upper()}")
                starts = [s for s in previous.spec["starts"] if s > now - WINDOW_SECONDS]
                if len(starts) >= MAX_MODIFICATIONS_PER_WINDOW:
                    raise AwsError(
                        "VolumeModificationRateExceeded",
                        "You've reached the maximum modification rate per volume limit. You can modify the volume "
                        f"again after {iso_text(min(starts) + WINDOW_SECONDS)}.",
                    )
            original = _settings_fields(volume.spec)
            settings = self._target(volume.spec, params)
            target = {"size": settings.size, "volumeType": settings.volume_type, "iops": settings.iops,
                      "throughput": settings.throughput, "multiAttach": settings.multi_attach}
            if target == original:
                raise AwsError("InvalidParameterCombination",
                               f"Volume {volume_id} already has the size, type, IOPS, throughput and Multi-Attach setting requested.")
            changed = {**copy.deepcopy(volume.spec), **target}
            modification = {"volumeId": volume_id, "startTime": now, "original": original, "target": target, "starts": [*starts, now]}
            try:
                if previous is None:
                    self.store.write_all(creates=[(key, modification)], updates=[(volume, changed)])
                else:
                    self.store.write_all(updates=[(volume, changed), (previous, modification)])
            except (Conflict, AlreadyExists):
                continue
            return {"VolumeModification": modification_view(modification, now)}

    def DescribeVolumesModifications(self, ctx: RequestContext, params: dict) -> dict:
        now = time.time()
        records = {r.key.name: r.spec for r in self.store.list(ctx.account, ctx.region, VOLUME_MODIFICATION)}
        wanted = params.get("VolumeIds")
        if wanted:
            for volume_id in wanted:
                check_volume_id(volume_id)
                if self.store.get(self._volume_key(ctx, volume_id)) is None:
                    raise volume_not_found(volume_id)
                if volume_id not in records:
                    raise AwsError("InvalidVolumeModification.NotFound", f"Modification for volume '{volume_id}' does not exist.")
            specs = [records[v] for v in dict.fromkeys(wanted)]
        else:
            specs = sorted(records.values(), key=lambda s: (s["startTime"], s["volumeId"]))
        views = match_filters([modification_view(s, now) for s in specs], params.get("Filters"), MODIFICATION_FILTERS)
        return page(params, views, "VolumesModifications")
