"""The aiohttp application behind `moorage up`: health, webhooks, and the AWS endpoint."""

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


def create_app(aws: Handler, authenticate: Handler, oidc: Handler | None = None, authorize: Handler | None = None) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[STARTED_AT] = time.monotonic()
    app[READY] = Readiness()
    app.router.add_get(HEALTH_PATH, health)
    app.router.add_post("/_moorage/webhooks/authenticate/{cluster_id}", authenticate)
    if authorize is not None:
        app.router.add_post("/_moorage/webhooks/authorize/{cluster_id}", authorize)
    if oidc is not None:  # each cluster's OIDC issuer: discovery document and JWKS
        app.router.add_get("/_moorage/oidc/id/{issuer_id}/{document:.*}", oidc)
    # Everything else is an AWS API call; the router picks the service as AWS does.
    app.router.add_route("*", "/{tail:.*}", aws)
    return app
