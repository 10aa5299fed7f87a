"""EBS states that take time on AWS, derived on read from recorded timestamps. Pure: no I/O.

Each request is recorded once, with the time it was made (CreateVolume's createdAt, AttachVolume's
requestedAt, DetachVolume's detachRequestedAt, ModifyVolume's startTime, CreateSnapshot's startTime);
what Describe* shows is a function of that record and the clock. So there is no reconciler, no
process state to lose in a crash, and nothing shown that was not recorded first: a volume is
`creating` for CREATE_SECONDS after its record was written, then `available`; an attachment is
`attaching` for ATTACH_SECONDS after it was recorded, then `attached`; a detach is `detaching` for
DETACH_SECONDS, then the attachment is gone. An attachment to an instance that no longer runs
(terminated, or gone from its node group) is gone as well, as EC2 detaches volumes from a
terminated instance.
"""

from __future__ import annotations

CREATE_SECONDS = 1.0
ATTACH_SECONDS = 1.0
DETACH_SECONDS = 1.0
SNAPSHOT_SECONDS = 2.0
MODIFYING_SECONDS = 1.0
OPTIMIZING_SECONDS = 2.0


def volume_created(spec: dict, now: float) -> bool:
    return now >= spec["createdAt"] + CREATE_SECONDS


def attachment_state(attachment: dict, now: float) -> str | None:
    """attaching, attached, detaching, or None once detached."""
    detach = attachment.get("detachRequestedAt")
    if detach is not None:
        return "detaching" if now < detach + DETACH_SECONDS else None
    return "attaching" if now < attachment["requestedAt"] + ATTACH_SECONDS else "attached"


def live_attachments(spec: dict, now: float, running: set[str]) -> list[tuple[dict, str]]:
    """The volume's attachments that still hold it, with their states; `running` holds the ids of
    the instances that run."""
    found = []
    for attachment in spec.get("attachments", []):
        state = attachment_state(attachment, now)
        if state is not None and attachment["instanceId"] in running:
            found.append((attachment, state))
    return found


def volume_state(spec: dict, now: float, running: set[str]) -> str:
    if not volume_created(spec, now):
        return "creating"
    return "in-use" if live_attachments(spec, now, running) else "available"


def modification_state(start: float, now: float) -> tuple[str, int]:
    """(modificationState, progress percent) of a modification started at `start`."""
    elapsed = now - start
    if elapsed < MODIFYING_SECONDS:
        return "modifying", int(50 * elapsed / MODIFYING_SECONDS)
    if elapsed < MODIFYING_SECONDS + OPTIMIZING_SECONDS:
        return "optimizing", 50 + int(50 * (elapsed - MODIFYING_SECONDS) / OPTIMIZING_SECONDS)
    return "completed", 100


def modification_end(start: float) -> float:
    return start + MODIFYING_SECONDS + OPTIMIZING_SECONDS


def snapshot_state(start: float, now: float) -> tuple[str, int]:
    """(state, progress percent) of a snapshot started at `start`."""
    if now < start + SNAPSHOT_SECONDS:
        return "pending", int(100 * (now - start) / SNAPSHOT_SECONDS)
    return "completed", 100
