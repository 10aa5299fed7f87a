"""A minimal async client for a tenant cluster's kube-apiserver.

Generic on purpose: objects are plain dicts addressed by their API path (``/api/v1/nodes``,
``/api/v1/namespaces/default/pods/web-1``, ``/apis/apps/v1/namespaces/default/deployments``). Moorage
talks to tenant clusters as the cluster's admin identity (``ClusterPki.admin``: CN=moorage-admin,
O=system:masters) over TLS verified against the cluster CA.

Writes are server-side apply (``application/apply-patch+yaml``; JSON is YAML, so the body is JSON) with
field manager ``moorage``, or a JSON merge patch. A subresource (``status``, ``scale``, ``eviction``) is
the object's path plus ``/<subresource>``; the ``subresource`` arguments only append it.

Every non-2xx answer raises :class:`KubeError` carrying the HTTP status and the ``Status`` object's
reason and message; connection failures and timeouts raise it too, with status 0.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

FIELD_MANAGER = "moorage"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
MERGE_PATCH_CONTENT_TYPE = "application/merge-patch+json"
DEFAULT_TIMEOUT = 30.0
LIST_PAGE_SIZE = 500


class KubeError(Exception):
    """A refused or failed request. ``status`` is the HTTP status (0: no answer at all); ``reason`` is the
    Kubernetes Status reason (NotFound, AlreadyExists, Conflict, Invalid, TooManyRequests, …)."""

    def __init__(self, status: int, message: str, *, reason: str = "", method: str = "", path: str = "",
                 body: Mapping[str, Any] | None = None):
        self.status = status
        self.reason = reason
        self.message = message
        self.method = method
        self.path = path
        self.body = dict(body) if body else None
        where = f"{method} {path}: " if method else ""
        super().__init__(f"{where}{status} {reason or 'Error'}: {message}" if status else f"{where}{message}")

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


@dataclass(frozen=True)
class KubeCredentials:
    """Where to reach a kube-apiserver and which client certificate to present."""

    server_url: str  # https://127.0.0.1:<port>
    ca_cert: Path
    client_cert: Path
    client_key: Path

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context


def object_path(api_version: str, plural: str, name: str | None = None, namespace: str | None = None,
                subresource: str | None = None) -> str:
    """``/api/v1/namespaces/ns/pods/name/status`` from its parts (core group for ``v1``)."""
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    parts = [base]
    if namespace is not None:
        parts.append(f"namespaces/{quote(namespace, safe='')}")
    parts.append(plural)
    if name is not None:
        parts.append(quote(name, safe=""))
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


# The kinds Moorage writes by apiVersion/kind (add-ons, webhooks): kind -> (plural, namespaced).
RESOURCES: dict[str, tuple[str, bool]] = {
    "Namespace": ("namespaces", False),
    "ServiceAccount": ("serviceaccounts", True),
    "ConfigMap": ("configmaps", True),
    "Secret": ("secrets", True),
    "Service": ("services", True),
    "Deployment": ("deployments", True),
    "DaemonSet": ("daemonsets", True),
    "PodDisruptionBudget": ("poddisruptionbudgets", True),
    "Role": ("roles", True),
    "RoleBinding": ("rolebindings", True),
    "ClusterRole": ("clusterroles", False),
    "ClusterRoleBinding": ("clusterrolebindings", False),
    "CSIDriver": ("csidrivers", False),
    "StorageClass": ("storageclasses", False),
    "PriorityClass": ("priorityclasses", False),
    "CustomResourceDefinition": ("customresourcedefinitions", False),
    "APIService": ("apiservices", False),
    "MutatingWebhookConfiguration": ("mutatingwebhookconfigurations", False),
    "ValidatingWebhookConfiguration": ("validatingwebhookconfigurations", False),
}


def path_of(obj: Mapping[str, Any]) -> str:
    """The API path of an object (or a reference: apiVersion, kind, name and namespace at the top level or
    under metadata). A namespaced kind without a namespace is in ``default``, as kubectl has it."""
    metadata = obj.get("metadata") or {}
    kind = obj["kind"]
    if kind not in RESOURCES:
        raise ValueError(f"no API resource known for kind {kind!r}; add it to RESOURCES")
    plural, namespaced = RESOURCES[kind]
    name = metadata.get("name") or obj.get("name")
    namespace = (metadata.get("namespace") or obj.get("namespace") or "default") if namespaced else None
    return object_path(obj["apiVersion"], plural, name, namespace)


def _with_subresource(path: str, subresource: str | None) -> str:
    return f"{path.rstrip('/')}/{subresource}" if subresource else path


class KubeClient:
    """One HTTP session to one kube-apiserver. Use as ``async with KubeClient(creds) as kube: ...``,
    or call :meth:`close` when done."""

    def __init__(self, credentials: KubeCredentials, *, timeout: float = DEFAULT_TIMEOUT,
                 ssl_context: ssl.SSLContext | None = None, field_manager: str = FIELD_MANAGER):
        self.credentials = credentials
        self.base_url = credentials.server_url.rstrip("/")
        self.field_manager = field_manager
        self._ssl = ssl_context or credentials.ssl_context()
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---- the verbs

    async def get(self, path: str, *, subresource: str | None = None,
                  params: Mapping[str, str] | None = None) -> dict:
        return await self.request("GET", _with_subresource(path, subresource), params=params)

    async def get_text(self, path: str) -> str:
        """A non-JSON answer as text, such as ``/metrics`` (Prometheus text format)."""
        session = self._session_or_new()
        try:
            async with session.get(self.base_url + path, ssl=self._ssl, headers={"Accept": "text/plain"}) as response:
                raw = await response.read()
                status = response.status
        except asyncio.TimeoutError as error:
            raise KubeError(0, f"timed out talking to {self.base_url}", method="GET", path=path) from error
        except (aiohttp.ClientError, OSError) as error:
            raise KubeError(0, f"cannot reach {self.base_url}: {error or type(error).__name__}",
                            method="GET", path=path) from error
        text = raw.decode("utf-8", "replace")
        if not 200 <= status < 300:
            raise KubeError(status, text.strip()[:500] or f"HTTP {status}", method="GET", path=path)
        return text

    async def get_or_none(self, path: str, *, subresource: str | None = None) -> dict | None:
        try:
            return await self.get(path, subresource=subresource)
        except KubeError as error:
            if error.not_found:
                return None
            raise

    async def list(self, path: str, *, label_selector: str | None = None, field_selector: str | None = None,
                   limit: int = LIST_PAGE_SIZE) -> list[dict]:
        """Every item of a collection, following ``continue`` tokens."""
        items: list[dict] = []
        params: dict[str, str] = {"limit": str(limit)}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        while True:
            page = await self.request("GET", path, params=params)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
            params["continue"] = token

    async def create(self, path: str, body: Mapping[str, Any], *, subresource: str | None = None) -> dict:
        """POST to a collection (or to a subresource such as ``eviction``)."""
        return await self.request("POST", _with_subresource(path, subresource), body=body,
                                  params={"fieldManager": self.field_manager})

    async def apply(self, path: str, body: Mapping[str, Any], *, subresource: str | None = None,
                    force: bool = True, field_manager: str | None = None) -> dict:
        """Server-side apply of ``body`` (a full object with apiVersion, kind and metadata.name) at the object's
        path; creates the object when missing. ``force`` takes over fields other managers own."""
        params = {"fieldManager": field_manager or self.field_manager}
        if force:
            params["force"] = "true"
        return await self.request("PATCH", _with_subresource(path, subresource), body=body, params=params,
                                  content_type=APPLY_CONTENT_TYPE)

    async def merge_patch(self, path: str, patch: Mapping[str, Any], *, subresource: str | None = None) -> dict:
        """JSON merge patch (RFC 7386): maps merge, lists are replaced, ``None`` removes a key."""
        return await self.request("PATCH", _with_subresource(path, subresource), body=patch,
                                  params={"fieldManager": self.field_manager}, content_type=MERGE_PATCH_CONTENT_TYPE)

    async def delete(self, path: str, *, grace_period_seconds: int | None = None,
                     propagation_policy: str | None = None, resource_version: str | None = None,
                     missing_ok: bool = True) -> dict | None:
        """DELETE an object; returns the server's answer (the object being deleted, or a Status), or None when
        it was already gone and ``missing_ok``. ``resource_version`` is a precondition (409 when it moved on)."""
        options: dict[str, Any] = {}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if propagation_policy is not None:
            options["propagationPolicy"] = propagation_policy
        if resource_version is not None:
            options["preconditions"] = {"resourceVersion": resource_version}
        body = {"apiVersion": "v1", "kind": "DeleteOptions", **options} if options else None
        try:
            return await self.request("DELETE", path, body=body)
        except KubeError as error:
            if missing_ok and error.not_found:
                return None
            raise

    async def evict(self, namespace: str, name: str, *, grace_period_seconds: int | None = None) -> dict:
        """Create a policy/v1 Eviction for a pod. A PodDisruptionBudget that forbids it answers 429
        (``KubeError.status == 429``); a pod already gone answers 404."""
        body: dict[str, Any] = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
        }
        if grace_period_seconds is not None:
            body["deleteOptions"] = {"gracePeriodSeconds": grace_period_seconds}
        return await self.create(object_path("v1", "pods", name, namespace), body, subresource="eviction")

    async def watch(self, path: str, *, resource_version: str | None = None, field_selector: str | None = None,
                    label_selector: str | None = None, timeout_seconds: int = 300) -> AsyncIterator[dict]:
        """The events ({"type": ADDED|MODIFIED|DELETED|BOOKMARK, "object": ...}) of a collection from
        ``resource_version`` on, until the server closes the watch (after ``timeout_seconds``). An expired
        resource version (410 Gone, as a status or as an ERROR event) raises KubeError(410): list again."""
        params = {"watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": str(timeout_seconds)}
        if resource_version:
            params["resourceVersion"] = resource_version
        if field_selector:
            params["fieldSelector"] = field_selector
        if label_selector:
            params["labelSelector"] = label_selector
        session = self._session_or_new()
        # No total timeout: a watch lasts; a silent connection is cut a little after the server's own timeout.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout_seconds + 30)
        try:
            async with session.get(self.base_url + path, params=params, ssl=self._ssl, timeout=timeout,
                                   headers={"Accept": "application/json"}) as response:
                if response.status != 200:
                    raw = await response.read()
                    try:
                        document = json.loads(raw)
                    except ValueError:
                        document = {}
                    raise KubeError(response.status, str(document.get("message") or raw[:300]),
                                    reason=str(document.get("reason") or ""), method="WATCH", path=path)
                buffer = b""
                async for chunk in response.content.iter_any():
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        if event.get("type") == "ERROR":
                            status = event.get("object") or {}
                            raise KubeError(int(status.get("code") or 500), str(status.get("message") or ""),
                                            reason=str(status.get("reason") or ""), method="WATCH", path=path)
                        yield event
        except asyncio.TimeoutError as error:
            raise KubeError(0, f"watch of {path} timed out", method="WATCH", path=path) from error
        except (aiohttp.ClientError, OSError) as error:
            raise KubeError(0, f"watch of {path} failed: {error or type(error).__name__}",
                            method="WATCH", path=path) from error

    # ---- transport

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      body: Mapping[str, Any] | None = None, content_type: str = "application/json") -> dict:
        if not path.startswith("/"):
            raise ValueError(f"API paths start with '/': {path!r}")
        session = self._session_or_new()
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = content_type
        try:
            async with session.request(method, self.base_url + path, params=params, data=data, headers=headers,
                                       ssl=self._ssl) as response:
                raw = await response.read()
                status = response.status
        except asyncio.TimeoutError as error:
            raise KubeError(0, f"timed out talking to {self.base_url}", method=method, path=path) from error
        except (aiohttp.ClientError, OSError) as error:
            raise KubeError(0, f"cannot reach {self.base_url}: {error or type(error).__name__}",
                            method=method, path=path) from error
        try:
            document = json.loads(raw) if raw else {}
        except ValueError:
            document = None
        if 200 <= status < 300:
            return document if isinstance(document, dict) else {}
        if isinstance(document, dict) and document.get("kind") == "Status":
            raise KubeError(status, str(document.get("message") or ""), reason=str(document.get("reason") or ""),
                            method=method, path=path, body=document)
        text = raw.decode("utf-8", "replace").strip()[:500]
        raise KubeError(status, text or f"HTTP {status}", method=method, path=path)

    def _session_or_new(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session


__all__ = [
    "APPLY_CONTENT_TYPE", "FIELD_MANAGER", "KubeClient", "KubeCredentials", "KubeError", "MERGE_PATCH_CONTENT_TYPE",
    "object_path", "path_of", "RESOURCES",
]
