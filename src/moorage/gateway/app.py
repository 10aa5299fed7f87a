"""The aiohttp application behind `moorage up`: health, OIDC issuers, and the AWS endpoint (webhooks are on
the webhook listener, gateway/webhook_listener.py)."""

from __future__ import annotations

import time
from typing import Awaitable, Callable

from aiohttp import web

from .. import __version__

HEALTH_PATH = "/_moorage/health"

class Readiness:
    """Mutable, because an aiohttp application's own state is frozen once it serves."""

    ready = False


STARTED_AT = web.AppKey("started_at", float)
READY = web.AppKey("ready", Readiness)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def health(request: web.Request) -> web.Response:
    app = request.app
    if not app[READY].ready:
        return web.json_response({"status": "starting", "version": __version__}, status=503)
    return web.json_response(
        {
            "status": "ok",
            "version": __version__,
            "uptime_seconds": round(time.monotonic() - app[STARTED_AT], 3),
        }
    )


async def webhooks_not_here(request: web.Request) -> web.Response:
    """kube-apiserver's webhooks are not served on the AWS endpoint: token review and authorization
    answer only over mutual TLS on the webhook listener (gateway/webhook_listener.py)."""
    return web.json_response({"message": "Forbidden"}, status=403)


def create_app(aws: Handler, oidc: Handler | None = None) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[STARTED_AT] = time.monotonic()
    app[READY] = Readiness()
    app.router.add_get(HEALTH_PATH, health)
    app.router.add_route("*", "/_moorage/webhooks/{tail:.*}", webhooks_not_here)
    if oidc is not None:  # each cluster's OIDC issuer: discovery document and JWKS
        app.router.add_get("/_moorage/oidc/id/{issuer_id}/{document:.*}", oidc)
    # Everything else is an AWS API call; the router picks the service as AWS does.
    app.router.add_route("*", "/{tail:.*}", aws)
    return app
