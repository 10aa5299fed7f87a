"""GET <issuer>/.well-known/openid-configuration and GET <issuer>/keys for every cluster's OIDC issuer
(<base>/_moorage/oidc/id/<ID>), as EKS's oidc.eks.<region>.amazonaws.com serves them."""

from __future__ import annotations

from aiohttp import web

from ..services.eks.oidc_issuer import ClusterIssuers, discovery_document

DISCOVERY = ".well-known/openid-configuration"
KEYS = "keys"


class OidcIssuerEndpoint:
    def __init__(self, issuers: ClusterIssuers):
        self.issuers = issuers

    async def handle(self, request: web.Request) -> web.Response:
        document = request.match_info["document"]
        cluster = self.issuers.cluster(request.match_info["issuer_id"]) if document in (DISCOVERY, KEYS) else None
        if cluster is None:
            return web.json_response({"message": "Not Found"}, status=404)
        if document == DISCOVERY:
            return web.json_response(discovery_document(cluster.spec["identity"]["oidc"]["issuer"]))
        keys = self.issuers.jwks(cluster)
        if keys is None:  # the cluster's key is not made yet (or never will be: a FAILED cluster)
            return web.json_response({"message": "Not Found"}, status=404)
        return web.json_response(keys)
