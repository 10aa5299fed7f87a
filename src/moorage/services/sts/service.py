"""STS operations (query protocol)."""

from __future__ import annotations

from ..accounts import CredentialStore
from ..base import RequestContext, Service


class StsService(Service):
    name = "sts"

    def __init__(self, credentials: CredentialStore):
        self.credentials = credentials

    def GetCallerIdentity(self, ctx: RequestContext, params: dict) -> dict:
        principal = self.credentials.principal_for(ctx.access_key_id)
        assert principal is not None  # the gateway only dispatches verified callers
        return {"UserId": principal.user_id, "Account": principal.account_id, "Arn": principal.arn}
