"""Who is calling and how: the request context every service handler receives.

Neutral: the gateway builds it, services read it, and nothing here imports a layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .regions import partition

EKS_SERVICE_PRINCIPAL = "eks.amazonaws.com"


class InOperationChecks(Protocol):
    """Authorization a service needs in the middle of an operation; the gateway's Authorizer is one."""

    def require_pass_role(self, ctx: "RequestContext", role_arn: str, service: str, protocol: str) -> None: ...


@dataclass(frozen=True)
class Principal:
    """Who signed a request: the account, the principal's ARN and its unique id (UserId in STS)."""

    account_id: str
    arn: str
    user_id: str
    access_key_id: str
    # Temporary (STS) credentials only: the token requests must carry, and when it stops working.
    session_token: str | None = None
    expires_at: float | None = None


@dataclass(frozen=True)
class RequestContext:
    account: str
    region: str
    principal_arn: str
    access_key_id: str
    request_id: str
    # Who called and from where, for authorisation (gateway/authorize.py): the signer (None for
    # unsigned calls), the client's address, whether it came over TLS, and the Authorizer that
    # services use for checks made inside an operation (iam:PassRole).
    principal: "Principal | None" = field(default=None, compare=False)
    source_ip: str = ""
    secure_transport: bool = False
    authorizer: "InOperationChecks | None" = field(default=None, compare=False, repr=False)

    @property
    def partition(self) -> str:
        return partition(self.region)

    def require_pass_role(self, role_arn: str, service: str = EKS_SERVICE_PRINCIPAL, protocol: str = "rest-json") -> None:
        """iam:PassRole for a role the request hands to a service (AccessDenied when refused). The
        root, and calls that reach services without the gateway (no authorizer), pass."""
        if self.authorizer is not None:
            self.authorizer.require_pass_role(self, role_arn, service, protocol)
