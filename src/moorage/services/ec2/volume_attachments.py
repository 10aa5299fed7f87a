"""EBS attachments: AttachVolume and DetachVolume, with EC2's rules.

A volume attaches to a running instance in its own zone, under a device name the instance does not
already use; a volume without Multi-Attach to one instance at a time (Multi-Attach io1/io2: up to
16 instances). An instance has as many EBS attachment slots as its type gives it
(attachment_limits.py); its root volume takes one. The request is recorded with its time; the
attachment is `attaching`, then `attached` (volume_states.py).
"""

from __future__ import annotations

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import VOLUME
from .attachment_limits import ROOT_DEVICE, is_valid_device, max_volume_attachments
from .launched_instances import launched_instances
from .nodegroup_instances import instances
from .volume_states import live_attachments, volume_created
from .volumes import EbsStore, iso, running_instances

MAX_MULTI_ATTACH_INSTANCES = 16


def _attachment_view(volume_id: str, attachment: dict, state: str) -> dict:
    return {
        "AttachTime": iso(attachment["requestedAt"]),
        "Device": attachment["device"],
        "InstanceId": attachment["instanceId"],
        "State": state,
        "VolumeId": volume_id,
        "DeleteOnTermination": attachment.get("deleteOnTermination", False),
    }


class VolumeAttachmentOperations(EbsStore):
    def _instance_holdings(self, ctx: RequestContext, instance_id: str, running: set[str], now: float) -> list[dict]:
        """The attachments (of any volume) an instance holds now."""
        return [
            attachment
            for record in self.store.list(ctx.account, ctx.region, VOLUME)
            for attachment, _ in live_attachments(record.spec, now, running)
            if attachment["instanceId"] == instance_id
        ]

    def AttachVolume(self, ctx: RequestContext, params: dict) -> dict:
        volume_id, instance_id, device = params["VolumeId"], params["InstanceId"], params["Device"]
        self._volume_record(ctx, volume_id)  # malformed or unknown volume first, as EC2 checks
        found = running_instances(self.store, ctx.account, ctx.region)
        instance = found.get(instance_id)
        if instance is None:
            if self._instance_exists(ctx, instance_id):
                raise AwsError("IncorrectInstanceState", f"Instance '{instance_id}' is not 'running'.")
            raise AwsError("InvalidInstanceID.NotFound", f"The instance ID '{instance_id}' does not exist")
        if not is_valid_device(device):
            raise AwsError("InvalidParameterValue", f"Value ({device}) for parameter device is invalid. {device} is not a valid EBS device name.")
        running = set(found)

        def attach(spec: dict, now: float) -> dict:
            if not volume_created(spec, now):
                raise AwsError("IncorrectState", f"Volume '{volume_id}' is in the 'creating' state.")
            if spec["zone"] != instance["Placement"]["AvailabilityZone"]:
                raise AwsError(
                    "InvalidVolume.ZoneMismatch",
                    f"The volume '{volume_id}' is not in the same availability zone as instance '{instance_id}'",
                )
            holding = live_attachments(spec, now, running)
            if any(a["instanceId"] == instance_id for a, _ in holding):
                raise AwsError("VolumeInUse", f"{volume_id} is already attached to an instance")
            if holding and not spec["multiAttach"]:
                raise AwsError("VolumeInUse", f"{volume_id} is already attached to an instance")
            if len(holding) >= MAX_MULTI_ATTACH_INSTANCES:
                raise AwsError("VolumeInUse", f"{volume_id} is attached to the maximum number of instances ({MAX_MULTI_ATTACH_INSTANCES})")
            on_instance = self._instance_holdings(ctx, instance_id, running, now)
            if device == ROOT_DEVICE or any(a["device"] == device for a in on_instance):
                raise AwsError("InvalidParameterValue", f"Invalid value '{device}' for unixDevice. Attachment point {device} is already in use")
            limit = max_volume_attachments(instance["InstanceType"])
            if 1 + len(on_instance) >= limit:  # the root volume holds one slot
                raise AwsError(
                    "AttachmentLimitExceeded",
                    f"Instance '{instance_id}' ({instance['InstanceType']}) has reached its limit of {limit} EBS volume attachments.",
                )
            attachment = {"instanceId": instance_id, "device": device, "requestedAt": now, "deleteOnTermination": False}
            spec["attachments"] = [a for a, _ in holding] + [attachment]
            return _attachment_view(volume_id, attachment, "attaching")

        return self._change_volume(ctx, volume_id, attach)

    def _instance_exists(self, ctx: RequestContext, instance_id: str) -> bool:
        every = instances(self.store, ctx.account, ctx.region) + launched_instances(self.store, ctx.account, ctx.region)
        return any(i["InstanceId"] == instance_id and i["State"]["Name"] != "terminated" for i in every)

    def DetachVolume(self, ctx: RequestContext, params: dict) -> dict:
        volume_id = params["VolumeId"]
        instance_id, device = params.get("InstanceId"), params.get("Device")
        running = set(running_instances(self.store, ctx.account, ctx.region))

        def detach(spec: dict, now: float) -> dict:
            holding = live_attachments(spec, now, running)
            if not holding:
                state = "available" if volume_created(spec, now) else "creating"
                raise AwsError("IncorrectState", f"Volume '{volume_id}' is in the '{state}' state.")
            chosen = [(a, s) for a, s in holding if (instance_id is None or a["instanceId"] == instance_id)
                      and (device is None or a["device"] == device)]
            if not chosen:
                if instance_id is not None:
                    raise AwsError("InvalidAttachment.NotFound", f"The volume '{volume_id}' is not attached to instance '{instance_id}'.")
                raise AwsError("InvalidAttachment.NotFound", f"Attachment point {device} is not in use")
            if len(chosen) > 1:
                raise AwsError("InvalidParameterCombination",
                               f"Volume '{volume_id}' is attached to more than one instance; give the parameter instanceId.")
            attachment, state = chosen[0]
            if state != "detaching":
                attachment["detachRequestedAt"] = now
            spec["attachments"] = [a for a, _ in holding]
            return _attachment_view(volume_id, attachment, "detaching")

        return self._change_volume(ctx, volume_id, detach)
