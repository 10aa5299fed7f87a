"""Moving a running control plane to the next Kubernetes minor, with no downtime (UpdateClusterVersion).

Steps, each recorded in the cluster's status before it is taken, so a crash resumes where it stopped:
1. the new minor's kube-apiserver starts beside the old one, on the same port and the same etcd data
   (both bind with SO_REUSEPORT, `--permit-port-sharing`): clients keep being answered by the old one;
2. once the new one answers /readyz itself, the old one stops (the commit point: status.version moves);
3. the cluster reconciler's usual pass then restarts the controller manager and scheduler on the new
   binaries and marks the Update Successful.
If the new kube-apiserver does not become ready in time, or keeps exiting, it is stopped and the old one,
which never stopped, goes on serving: the Update is Failed and the cluster stays on its version (rollback).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from pathlib import Path
from typing import Awaitable, Callable

from ..core.kinds import UPDATE
from ..infra import controlplane, port_steering
from ..infra.process_records import ProcessSpec
from ..infra.supervisor import Supervisor
from ..services.eks.versions import patch_version, platform_version
from ..store import Key, Record, SqliteStore

log = logging.getLogger(__name__)

# How long a new kube-apiserver may take to become ready before the update is rolled back. A cold start on
# 2 busy cores takes 3-10 s; etcd data of a large cluster makes it longer.
NEW_APISERVER_TIMEOUT_SECONDS = 120.0
# Exits of the new kube-apiserver (crash loops) that roll the update back before the timeout.
MAX_NEW_APISERVER_EXITS = 3
POLL_SECONDS = 0.2
# While the old kube-apiserver drains after SIGTERM: long enough for in-flight requests, and it has already
# stopped accepting connections, so the new one takes every new client.
OLD_APISERVER_STOP_SECONDS = 10.0
# After steering every new connection to the new kube-apiserver: time for the old one to accept what its
# accept queue still holds before it stops listening.
HAND_OVER_DRAIN_SECONDS = 0.2

DEFAULT_APISERVER_NAME = "kube-apiserver"

SpecsFor = Callable[[str, str], Awaitable[list[ProcessSpec]]]  # (minor, kube-apiserver process name) -> specs


def apiserver_name_for(minor: str) -> str:
    return f"{DEFAULT_APISERVER_NAME}-{minor}"


def pending_version_update(store: SqliteStore, record: Record) -> Record | None:
    """The InProgress VersionUpdate a cluster's or node group's spec asks for, if any."""
    update_id = record.spec.get("_pendingUpdate")
    if not update_id:
        return None
    update = store.get(Key(record.key.account, record.key.region, UPDATE, update_id))
    if update is None or update.spec.get("type") != "VersionUpdate" or update.status.get("status", "InProgress") != "InProgress":
        return None
    return update


def running_minor(record: Record, update: Record | None) -> str:
    """The minor the control plane runs now: recorded in status once known; before that (a cluster started by
    an older Moorage) the version the update started from, or the spec's."""
    if record.status.get("version"):
        return record.status["version"]
    if update is not None:
        return update.spec.get("previous", {}).get("version") or record.spec["version"]
    return record.spec["version"]


class ControlPlaneUpgrades:
    def __init__(self, store: SqliteStore, supervisor: Supervisor):
        self.store = store
        self.supervisor = supervisor
        self._steered: set = set()

    async def advance(self, record: Record, update: Record, port: int, context: ssl.SSLContext, specs_for: SpecsFor,
                      prefix: str, state_dir: Path) -> float:
        """One step of the update; the old control plane is up and ready when this is called."""
        target = record.spec["version"]
        current = running_minor(record, update)
        old_name = record.status.get("apiserverName", DEFAULT_APISERVER_NAME)
        upgrade = record.status.get("upgrade") or {}
        if upgrade.get("updateId") != update.spec["id"]:
            new_name = apiserver_name_for(target)
            if new_name == old_name:  # e.g. back on a minor it once left: never share a name with the old one
                new_name = f"{new_name}-{update.spec['id'][:8]}"
            upgrade = {"updateId": update.spec["id"], "to": target, "from": current, "apiserverName": new_name,
                       "startedAt": time.time()}
            previous = update.spec.get("previous", {})
            record = self.store.merge_status(record, upgrade=upgrade, version=current, platformVersion=record.status.get(
                "platformVersion") or previous.get("platformVersion") or platform_version(current))
            log.info("cluster %s: version update %s: starting kube-apiserver %s beside %s", record.key.name,
                     update.spec["id"], target, current)
        new_name = upgrade["apiserverName"]
        old_process = f"{prefix}/{old_name}"
        want = f"v{patch_version(target)}"
        # While it starts, the kernel shares the port between both: the new kube-apiserver's own loopback client
        # (informers, start-up hooks) must reach it, and nothing at L4 tells it from other local clients.
        self._steer(old_process, port, port_steering.SHARE)
        specs = await specs_for(target, new_name)
        status = await self.supervisor.ensure(specs[0])
        ready, detail = await controlplane.version_readyz(port, context, want)
        if ready:
            if self._steer(old_process, port, port_steering.NEW_ONLY):
                await asyncio.sleep(HAND_OVER_DRAIN_SECONDS)  # the old one's accept queue empties
            await self._hand_over(record, old_process, new_name, target, state_dir)
            return 0.0
        return await self._check_failure(record, update, status, upgrade, detail, prefix, state_dir)

    async def _check_failure(self, record: Record, update: Record, status, upgrade: dict, detail: str, prefix: str,
                             state_dir: Path) -> float:
        """Roll back when the new kube-apiserver keeps exiting or is not ready in time; else poll again."""
        exits = status.restarts + (1 if status.state != "running" else 0)
        elapsed = time.time() - upgrade["startedAt"]
        if exits < MAX_NEW_APISERVER_EXITS and elapsed <= NEW_APISERVER_TIMEOUT_SECONDS:
            return POLL_SECONDS
        target = upgrade["to"]
        reason = (f"kube-apiserver {target} exited {exits} times" if exits >= MAX_NEW_APISERVER_EXITS
                  else f"kube-apiserver {target} was not ready after {int(elapsed)} s")
        tail = (status.last_error_tail or "")[-300:]
        old_process = f"{prefix}/{record.status.get('apiserverName', DEFAULT_APISERVER_NAME)}"
        await self._roll_back(record, update, f"{prefix}/{upgrade['apiserverName']}", f"{reason}: {detail[:300]} {tail}".strip(),
                              state_dir)
        self._steer(old_process, int(record.status["port"]), port_steering.SHARE)
        return 0.0

    def _steer(self, old_process: str, port: int, program) -> bool:
        """Attach ``program`` to the port's reuseport group, once per old process and program."""
        try:
            pid = self.supervisor.status(old_process).pid
        except KeyError:
            return False
        if pid is None:
            return False
        done = (pid, port, program)
        if done in self._steered:
            return True
        ok = port_steering.steer(pid, port, program)
        self._steered = {done} if ok else set()
        return ok

    async def _hand_over(self, record: Record, old_process: str, new_name: str, target: str, state_dir: Path) -> None:
        """The new kube-apiserver is ready: it becomes the cluster's (recorded first), then the old one stops."""
        self.store.merge_status(record, version=target, platformVersion=platform_version(target), apiserverName=new_name,
                                upgrade=None, retiredApiserver=old_process)
        log.info("cluster %s: kube-apiserver %s is ready; stopping the old one", record.key.name, target)
        await self.supervisor.stop(old_process, OLD_APISERVER_STOP_SECONDS)
        await self.supervisor.kill_recorded(old_process, state_dir)
        fresh = self.store.get(record.key)
        if fresh is not None:
            self.store.merge_status(fresh, retiredApiserver=None)

    async def _roll_back(self, record: Record, update: Record, new_process: str, message: str, state_dir: Path) -> None:
        log.error("cluster %s: version update %s failed, rolling back: %s", record.key.name, update.spec["id"], message)
        await self.supervisor.stop(new_process, OLD_APISERVER_STOP_SECONDS)
        await self.supervisor.kill_recorded(new_process, state_dir)
        self.store.merge_status(
            update, status="Failed",
            errors=[{"errorCode": "ClusterUnreachable",
                     "errorMessage": f"The new control plane did not become healthy and was rolled back: {message}"[:1000],
                     "resourceIds": [record.key.name]}])
        self.store.merge_status(record, upgrade=None, appliedUpdate=update.spec["id"])

    async def finish_retirement(self, record: Record, state_dir: Path) -> None:
        """After a crash between recording a hand-over and stopping the old kube-apiserver: stop it now."""
        old_process = record.status.get("retiredApiserver")
        if old_process:
            await self.supervisor.stop(old_process, OLD_APISERVER_STOP_SECONDS)
            await self.supervisor.kill_recorded(old_process, state_dir)
            self.store.merge_status(record, retiredApiserver=None)
