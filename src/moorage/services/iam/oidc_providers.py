"""IAM OpenID Connect providers: the identity providers roles can trust for AssumeRoleWithWebIdentity
(IRSA registers each cluster's issuer as one).

A provider is named by its URL without the scheme: the ARN is arn:aws:iam::<account>:oidc-provider/<host/path>
and that text prefixes its condition keys (<host/path>:sub, <host/path>:aud). IAM only takes https://
URLs; Moorage also takes the http:// issuers it serves itself when its endpoint is plain HTTP (without --tls).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import OIDC_PROVIDER
from ...store import AlreadyExists, Record
from . import names
from .entities import IamStore, merged_tags, now, page, without_tags

MAX_THUMBPRINTS = 5
MAX_CLIENT_IDS = 100
MOORAGE_ISSUER_PATH = "/_moorage/oidc/id/"


def provider_name(url: str) -> str:
    """The URL without its scheme or a trailing slash: the provider's name in its ARN."""
    return url.split("://", 1)[-1].rstrip("/")


def provider_arn(partition: str, account: str, url: str) -> str:
    return f"arn:{partition}:iam::{account}:oidc-provider/{provider_name(url)}"


def find_provider(entities: IamStore, account: str, url: str) -> Record | None:
    """The provider registered in the account for an issuer URL (as a token's iss gives it)."""
    record = entities.find(account, OIDC_PROVIDER, provider_name(url))
    return record if record is not None and record.spec["Name"] == provider_name(url) else None


def _checked_url(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise names.validation_error("Invalid Open ID Connect Provider URL")
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise names.invalid_input("Invalid Open ID Connect Provider URL.")
    ours = parts.scheme == "http" and MOORAGE_ISSUER_PATH in parts.path
    if parts.scheme != "https" and not ours:
        raise names.invalid_input("Invalid Open ID Connect Provider URL. The URL must begin with https://.")
    return url


def _not_found(arn: str):
    return names.no_such_entity(f"OpenIDConnect Provider not found for arn {arn}")


def _checked_thumbprints(thumbprints: list[str]) -> list[str]:
    if len(thumbprints) > MAX_THUMBPRINTS:
        raise names.invalid_input("Thumbprint list must contain fewer than 5 entries.")
    return thumbprints


class OpenIdConnectProviderOperations:
    """Mixed into IamService (self.entities)."""

    entities: IamStore

    def _provider(self, ctx: RequestContext, arn: str) -> Record:
        prefix = f"arn:{ctx.partition}:iam::{ctx.account}:oidc-provider/"
        record = self.entities.find(ctx.account, OIDC_PROVIDER, arn[len(prefix):]) if arn.startswith(prefix) else None
        if record is None or provider_arn(ctx.partition, ctx.account, record.spec["Url"]) != arn:
            raise _not_found(arn)
        return record

    def _change_provider(self, ctx: RequestContext, arn: str, change) -> Record:
        return self.entities.change(self._provider(ctx, arn), change, lambda: _not_found(arn))

    def CreateOpenIDConnectProvider(self, ctx: RequestContext, params: dict) -> dict:
        url = _checked_url(params["Url"])
        client_ids = list(dict.fromkeys(params.get("ClientIDList") or []))
        if len(client_ids) > MAX_CLIENT_IDS:
            raise names.limit_exceeded(f"Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}")
        spec = {
            "Name": provider_name(url),
            "Url": url,
            "ClientIDList": client_ids,
            "ThumbprintList": _checked_thumbprints(params.get("ThumbprintList") or []),
            "CreateDate": now(),
            "Tags": merged_tags([], params.get("Tags") or []),
        }
        try:
            self.entities.store.create(names.key(ctx.account, OIDC_PROVIDER, spec["Name"]), spec)
        except AlreadyExists:
            raise AwsError("EntityAlreadyExists", f"Provider with url {url} already exists.", 409) from None
        result: dict = {"OpenIDConnectProviderArn": provider_arn(ctx.partition, ctx.account, url)}
        if spec["Tags"]:
            result["Tags"] = spec["Tags"]
        return result

    def GetOpenIDConnectProvider(self, ctx: RequestContext, params: dict) -> dict:
        spec = self._provider(ctx, params["OpenIDConnectProviderArn"]).spec
        return {
            "Url": spec["Name"],  # IAM answers with the URL minus its scheme
            "ClientIDList": spec["ClientIDList"],
            "ThumbprintList": spec["ThumbprintList"],
            "CreateDate": names.timestamp(spec["CreateDate"]),
            "Tags": spec["Tags"],
        }

    def ListOpenIDConnectProviders(self, ctx: RequestContext, params: dict) -> dict:
        records = self.entities.all(ctx.account, OIDC_PROVIDER)
        return {"OpenIDConnectProviderList": [{"Arn": provider_arn(ctx.partition, ctx.account, r.spec["Url"])} for r in records]}

    def DeleteOpenIDConnectProvider(self, ctx: RequestContext, params: dict) -> dict:
        arn = params["OpenIDConnectProviderArn"]
        self.entities.remove(ctx.account, OIDC_PROVIDER, self._provider(ctx, arn).key.name, lambda record: None)
        return {}

    def AddClientIDToOpenIDConnectProvider(self, ctx: RequestContext, params: dict) -> dict:
        client_id = params["ClientID"]

        def add(spec: dict) -> None:
            if client_id not in spec["ClientIDList"]:
                if len(spec["ClientIDList"]) >= MAX_CLIENT_IDS:
                    raise names.limit_exceeded(f"Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}")
                spec["ClientIDList"].append(client_id)

        self._change_provider(ctx, params["OpenIDConnectProviderArn"], add)
        return {}

    def RemoveClientIDFromOpenIDConnectProvider(self, ctx: RequestContext, params: dict) -> dict:
        client_id = params["ClientID"]
        self._change_provider(
            ctx, params["OpenIDConnectProviderArn"],
            lambda spec: spec.update(ClientIDList=[c for c in spec["ClientIDList"] if c != client_id]),
        )
        return {}

    def UpdateOpenIDConnectProviderThumbprint(self, ctx: RequestContext, params: dict) -> dict:
        thumbprints = _checked_thumbprints(params["ThumbprintList"])
        self._change_provider(ctx, params["OpenIDConnectProviderArn"], lambda spec: spec.update(ThumbprintList=thumbprints))
        return {}

    def TagOpenIDConnectProvider(self, ctx: RequestContext, params: dict) -> dict:
        tags = params["Tags"]
        self._change_provider(ctx, params["OpenIDConnectProviderArn"], lambda s: s.update(Tags=merged_tags(s["Tags"], tags)))
        return {}

    def UntagOpenIDConnectProvider(self, ctx: RequestContext, params: dict) -> dict:
        self._change_provider(
            ctx, params["OpenIDConnectProviderArn"], lambda s: s.update(Tags=without_tags(s["Tags"], params["TagKeys"]))
        )
        return {}

    def ListOpenIDConnectProviderTags(self, ctx: RequestContext, params: dict) -> dict:
        return page(self._provider(ctx, params["OpenIDConnectProviderArn"]).spec["Tags"], params, "Tags")
