"""The one etcd a Moorage runs, shared by every cluster: each has its own key prefix and etcd user.

kube-apiserver authenticates to etcd with a client certificate whose CN is the cluster's etcd user;
that user's role may only read and write the cluster's prefix. Moorage administers etcd as `root`
(password auth through etcd's JSON gateway, over the same mutual-TLS listener).
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from .pki import EtcdPki
from .process_records import ProcessSpec


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def prefix_end(prefix: str) -> str:
    """The first key after every key starting with prefix (etcd's range_end convention)."""
    data = bytearray(prefix.encode())
    data[-1] += 1
    return data.decode()


def cluster_prefix(cluster_id: str) -> str:
    return f"/clusters/{cluster_id}"


def cluster_user(cluster_id: str) -> str:
    return f"cluster-{cluster_id}"


class EtcdError(Exception):
    pass


@dataclass(frozen=True)
class EtcdEndpoint:
    client_port: int
    peer_port: int
    root_password: str

    @property
    def client_url(self) -> str:
        return f"https://127.0.0.1:{self.client_port}"

    @classmethod
    def new(cls, client_port: int, peer_port: int) -> "EtcdEndpoint":
        return cls(client_port, peer_port, secrets.token_urlsafe(24))


def etcd_process(binary: Path, data_dir: Path, pki: EtcdPki, endpoint: EtcdEndpoint, state_dir: Path, log_path: Path) -> ProcessSpec:
    peer = f"http://127.0.0.1:{endpoint.peer_port}"
    return ProcessSpec(
        name="etcd",
        argv=[
            str(binary),
            "--name=moorage",
            f"--data-dir={data_dir}",
            f"--listen-client-urls={endpoint.client_url}",
            f"--advertise-client-urls={endpoint.client_url}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=moorage={peer}",
            "--initial-cluster-state=new",
            f"--cert-file={pki.server.cert}",
            f"--key-file={pki.server.key}",
            f"--trusted-ca-file={pki.ca.cert}",
            "--client-cert-auth=true",
            # kube-apiservers run with --etcd-compaction-interval=0 (their users can't touch the
            # global compaction key), so etcd compacts for everyone.
            "--auto-compaction-mode=periodic",
            "--auto-compaction-retention=10m",
            "--quota-backend-bytes=8589934592",
            "--log-level=warn",
            "--enable-pprof=false",
        ],
        log_path=log_path,
        state_dir=state_dir,
    )


class EtcdAdmin:
    """Users, roles and key ranges, through etcd's JSON gateway."""

    def __init__(self, endpoint: EtcdEndpoint, pki: EtcdPki):
        self.endpoint = endpoint
        context = ssl.create_default_context(cafile=str(pki.ca.cert))
        context.load_cert_chain(str(pki.root_client.cert), str(pki.root_client.key))
        self._ssl = context
        self._token: str | None = None

    async def _post(self, session: aiohttp.ClientSession, path: str, body: dict, auth: bool = True) -> dict:
        headers = {"Authorization": self._token} if auth and self._token else {}
        async with session.post(f"{self.endpoint.client_url}/v3/{path}", json=body, headers=headers, ssl=self._ssl) as response:
            data = await response.json(content_type=None)
            if response.status != 200:
                raise EtcdError(f"etcd {path}: HTTP {response.status}: {data.get('message') or data}")
            return data

    async def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(f"{self.endpoint.client_url}/health", ssl=self._ssl) as response:
                        if response.status in (200, 503):  # 503 before a leader; 200 once serving
                            body = await response.json(content_type=None)
                            if body.get("health") == "true":
                                return
                except (aiohttp.ClientError, OSError):
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise EtcdError(f"etcd at {self.endpoint.client_url} did not become healthy in {timeout:.0f}s")
                await asyncio.sleep(0.05)

    async def _authenticate(self, session: aiohttp.ClientSession) -> None:
        data = await self._post(
            session, "auth/authenticate", {"name": "root", "password": self.endpoint.root_password}, auth=False
        )
        self._token = data["token"]

    async def ensure_auth(self) -> None:
        """Enable etcd auth with a root user (first start), or log in as root (later starts)."""
        async with aiohttp.ClientSession() as session:
            try:
                await self._authenticate(session)
                return
            except EtcdError as error:
                if "authentication is not enabled" not in str(error):
                    raise
            for path, body in (
                ("auth/user/add", {"name": "root", "password": self.endpoint.root_password}),
                ("auth/role/add", {"name": "root"}),
                ("auth/user/grant", {"user": "root", "role": "root"}),
            ):
                try:
                    await self._post(session, path, body, auth=False)
                except EtcdError as error:
                    if "already exists" not in str(error) and "already granted" not in str(error):
                        raise
            await self._post(session, "auth/enable", {}, auth=False)
            await self._authenticate(session)

    async def _admin(self, calls: list[tuple[str, dict, tuple[str, ...]]]) -> None:
        async with aiohttp.ClientSession() as session:
            if self._token is None:
                await self._authenticate(session)
            for path, body, tolerated in calls:
                try:
                    await self._post(session, path, body)
                except EtcdError as error:
                    if "invalid auth token" in str(error):
                        await self._authenticate(session)
                        await self._post(session, path, body)
                    elif not any(text in str(error) for text in tolerated):
                        raise

    async def ensure_cluster_user(self, cluster_id: str) -> None:
        user = cluster_user(cluster_id)
        prefix = cluster_prefix(cluster_id) + "/"
        await self._admin(
            [
                ("auth/role/add", {"name": user}, ("already exists",)),
                (
                    "auth/role/grant",
                    {"name": user, "perm": {"permType": "READWRITE", "key": b64(prefix), "range_end": b64(prefix_end(prefix))}},
                    (),
                ),
                ("auth/user/add", {"name": user, "options": {"no_password": True}}, ("already exists",)),
                ("auth/user/grant", {"user": user, "role": user}, ()),
            ]
        )

    async def remove_cluster(self, cluster_id: str) -> None:
        """Delete the cluster's keys, user and role; safe to repeat."""
        user = cluster_user(cluster_id)
        prefix = cluster_prefix(cluster_id) + "/"
        await self._admin(
            [
                ("kv/deleterange", {"key": b64(prefix), "range_end": b64(prefix_end(prefix))}, ()),
                ("auth/user/delete", {"name": user}, ("not found",)),
                ("auth/role/delete", {"role": user}, ("not found",)),
            ]
        )


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SharedEtcd:
    """Starts (or re-adopts) the shared etcd once, then hands out an admin client."""

    def __init__(self, data_dir: Path, binary: Path, endpoint: EtcdEndpoint, supervisor):
        from .pki import ensure_etcd_pki

        self.root = data_dir / "etcd"
        self.binary = binary
        self.endpoint = endpoint
        self.supervisor = supervisor
        self._ensure_pki = ensure_etcd_pki
        self._ready: asyncio.Lock = asyncio.Lock()
        self.pki: EtcdPki | None = None
        self.admin: EtcdAdmin | None = None

    async def ensure(self) -> EtcdAdmin:
        async with self._ready:
            if self.pki is None:
                self.pki = await asyncio.to_thread(self._ensure_pki, self.root / "pki")
            spec = etcd_process(
                self.binary, self.root / "data", self.pki, self.endpoint, self.root / "state", self.root / "etcd.log"
            )
            await self.supervisor.ensure(spec)
            if self.admin is None:
                admin = EtcdAdmin(self.endpoint, self.pki)
                await admin.wait_ready()
                await admin.ensure_auth()
                self.admin = admin
            return self.admin
