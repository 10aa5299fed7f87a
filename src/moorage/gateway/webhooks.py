"""Webhooks kube-apiserver calls back into Moorage: token review for `aws eks get-token` tokens, and
authorization by EKS access policies.

The token is `k8s-aws-v1.` + base64url(presigned STS GetCallerIdentity URL) with the cluster name
signed in the `x-k8s-aws-id` header. Instead of forwarding it to STS (as aws-iam-authenticator
does), Moorage checks the presigned signature against its own credential store: the same proof.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Callable
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

from ..core.context import Principal
from ..core.regions import known_regions
from ..services.accounts import CredentialStore
from ..services.eks.identity import ClusterIdentities, access_policy_decision
from ..store import Record, SqliteStore
from . import sigv4
from .protocols import AwsError, AwsRequest

log = logging.getLogger(__name__)

TOKEN_PREFIX = "k8s-aws-v1."
MAX_TOKEN_BYTES = 4096
ALLOWED_QUERY = {
    "Action", "Version", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
    "X-Amz-Security-Token", "X-Amz-Signature", "X-Amz-SignedHeaders",
}


class TokenRejected(Exception):
    pass


def verify_token(token: str, cluster_name: str, credentials: CredentialStore) -> Principal:
    """The principal behind an EKS bearer token for this cluster, or TokenRejected saying why."""
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenRejected("token is too large")
    if not token.startswith(TOKEN_PREFIX):
        raise TokenRejected("token is not an EKS token (missing k8s-aws-v1. prefix)")
    encoded = token[len(TOKEN_PREFIX):]
    try:
        url = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise TokenRejected("token is not valid base64url") from None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket in the host
        raise TokenRejected("token URL must be an STS URL with path /") from None
    if parts.scheme not in ("https", "http") or parts.path not in ("/", ""):
        raise TokenRejected("token URL must be an STS URL with path /")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unexpected = set(query) - ALLOWED_QUERY
    if unexpected:
        raise TokenRejected(f"token URL has unexpected parameters {sorted(unexpected)}")
    if query.get("Action") != "GetCallerIdentity":
        raise TokenRejected("token URL is not a GetCallerIdentity request")
    signed = query.get("X-Amz-SignedHeaders", "").split(";")
    if "x-k8s-aws-id" not in signed:
        raise TokenRejected("x-k8s-aws-id is not signed into the token")
    expires = query.get("X-Amz-Expires", "0")
    if not expires.isdigit() or not 0 <= int(expires) <= 900:
        raise TokenRejected("X-Amz-Expires must be between 0 and 900 seconds")
    request = AwsRequest("GET", parts.path or "/", parts.query, headers={"host": parts.netloc, "x-k8s-aws-id": cluster_name})
    try:
        identity = sigv4.verify(
            request, credentials.secret_for, protocol="query", service="sts", regions=known_regions(), honour_expires=False
        )
    except AwsError as error:
        raise TokenRejected(f"{error.code}: {error.message}") from None
    principal = credentials.principal_for(identity.access_key_id)
    if principal is None:
        raise TokenRejected("the token's access key is unknown")
    try:  # temporary credentials: their own security token, before they expire
        sigv4.check_security_token(principal.session_token, principal.expires_at, identity.session_token, "query")
    except AwsError as error:
        raise TokenRejected(f"{error.code}: {error.message}") from None
    return principal


def token_review(body: dict, authenticated: bool, user: dict | None = None, error: str | None = None) -> dict:
    status: dict = {"authenticated": authenticated}
    if user:
        status["user"] = user
    if error:
        status["error"] = error
    return {"apiVersion": body.get("apiVersion", "authentication.k8s.io/v1"), "kind": "TokenReview", "status": status}


async def review_body(request: web.Request) -> dict | None:
    """The review kube-apiserver posts (a JSON object), or None for anything else."""
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class TokenReviewWebhook:
    """POST /_moorage/webhooks/authenticate/{cluster_id}: kube-apiserver's TokenReview.

    The token proves who the caller is; the cluster's access entries and aws-auth say who that is
    inside the cluster (services/eks/identity.py). An unmapped caller is not authenticated."""

    def __init__(self, credentials: CredentialStore, cluster_for_id: Callable[[str], Record | None], identities: ClusterIdentities):
        self.credentials = credentials
        self.cluster_for_id = cluster_for_id
        self.identities = identities

    async def handle(self, request: web.Request) -> web.Response:
        body = await review_body(request)
        if body is None:
            return web.json_response({"error": "body is not a JSON object"}, status=400)
        cluster = self.cluster_for_id(request.match_info["cluster_id"])
        if cluster is None:
            return web.json_response(token_review(body, False, error="unknown cluster"))
        token = ((body.get("spec") or {}).get("token")) or ""
        try:
            principal = verify_token(token, cluster.key.name, self.credentials)
        except TokenRejected as rejected:
            log.info("token rejected for cluster %s: %s", cluster.key.name, rejected)
            return web.json_response(token_review(body, False, error=str(rejected)))
        user, why_not = await self.identities.user_for(cluster, principal)
        if user is None:
            log.info("token of %s rejected for cluster %s: %s", principal.arn, cluster.key.name, why_not)
            return web.json_response(token_review(body, False, error=why_not))
        return web.json_response(token_review(body, True, user=user))


class AuthorizationWebhook:
    """POST /_moorage/webhooks/authorize/{cluster_id}: kube-apiserver's SubjectAccessReview, asked after
    Node and RBAC had no opinion. Allows what the caller's associated access policies allow; otherwise
    no opinion (allowed false, denied false), so RBAC stays authoritative."""

    def __init__(self, store: SqliteStore, cluster_for_id: Callable[[str], Record | None]):
        self.store = store
        self.cluster_for_id = cluster_for_id

    async def handle(self, request: web.Request) -> web.Response:
        body = await review_body(request)
        if body is None:
            return web.json_response({"error": "body is not a JSON object"}, status=400)
        cluster = self.cluster_for_id(request.match_info["cluster_id"])
        allowed, reason = (False, "unknown cluster") if cluster is None else access_policy_decision(self.store, cluster, body.get("spec") or {})
        # "No opinion" carries no reason, so kube-apiserver's Forbidden message reads as on EKS.
        status = {"allowed": True, "reason": reason} if allowed else {"allowed": False}
        if not allowed:
            log.debug("no opinion for cluster %s: %s", request.match_info["cluster_id"], reason)
        return web.json_response(
            {"apiVersion": body.get("apiVersion", "authorization.k8s.io/v1"), "kind": "SubjectAccessReview", "status": status}
        )
