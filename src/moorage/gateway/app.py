"""The aiohttp application behind `moorage up`."""

from __future__ import annotations

import time

from aiohttp import web

from .. import __version__

HEALTH_PATH = "/_moorage/health"

STARTED_AT = web.AppKey("started_at", float)
READY = web.AppKey("ready", bool)


async def health(request: web.Request) -> web.Response:
    app = request.app
    if not app[READY]:
        return web.json_response({"status": "starting", "version": __version__}, status=503)
    return web.json_response(
        {
            "status": "ok",
            "version": __version__,
            "uptime_seconds": round(time.monotonic() - app[STARTED_AT], 3),
        }
    )


def create_app() -> web.Application:
    app = web.Application()
    app[STARTED_AT] = time.monotonic()
    app[READY] = False
    app.router.add_get(HEALTH_PATH, health)
    return app
