"""Run Moorage until SIGINT/SIGTERM, then stop every control plane cleanly."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
import signal
import socket
import ssl
import sys
import time

from aiohttp import web

from .composition import Moorage
from .config import ServerConfig, prepare_data_dir
from .gateway.app import HEALTH_PATH, READY, create_app
from .infra.endpoint_tls import ensure_endpoint_tls, server_context


class StartupError(Exception):
    """Moorage could not start; the message says why and what to do."""


def _bound_port(runner: web.AppRunner, fallback: int) -> int:
    for site in runner.sites:
        server = getattr(site, "_server", None)
        for sock in getattr(server, "sockets", None) or []:
            return sock.getsockname()[1]
    return fallback


def _check_port_free(config: ServerConfig, patience: float = 3.0) -> None:
    """Fail if the port is taken; wait a moment first, for the workers of a just-killed Moorage to exit."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    deadline = time.monotonic() + patience
    while True:
        with socket.socket(family) as probe:
            # SO_REUSEADDR as the real listener has: old connections in TIME_WAIT don't count, listeners do.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((config.host, config.port))
                return
            except OSError as error:
                if error.errno == errno.EADDRINUSE and time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                if error.errno != errno.EADDRINUSE:
                    raise StartupError(f"cannot listen on {config.host}:{config.port}: {error.strerror or error}") from error
                raise StartupError(
                    f"{config.host}:{config.port} is already in use; stop what listens there or pass --port"
                ) from error


async def serve(config: ServerConfig, announce=print, api_workers: int = 0) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        prepare_data_dir(config.data_dir)
    except OSError as error:
        raise StartupError(f"cannot create the data directory {config.data_dir}: {error.strerror}") from error
    if api_workers:
        _check_port_free(config)  # SO_REUSEPORT would otherwise let two Moorages share a port
    ssl_context = None
    if config.tls:
        try:
            pki = await asyncio.to_thread(ensure_endpoint_tls, config.data_dir, config.host)
            ssl_context = server_context(config.data_dir)
        except (OSError, ssl.SSLError) as error:
            raise StartupError(f"cannot prepare TLS in {config.data_dir}: {error}") from error
    moorage = Moorage(config, announce, api_workers=api_workers)
    app = create_app(moorage.aws, oidc=moorage.oidc)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, config.host, config.port, backlog=1024, reuse_port=api_workers > 0,
                            ssl_context=ssl_context).start()
    except OSError as error:
        await runner.cleanup()
        if error.errno == errno.EADDRINUSE:
            raise StartupError(
                f"{config.host}:{config.port} is already in use; stop what listens there or pass --port"
            ) from error
        raise StartupError(f"cannot listen on {config.host}:{config.port}: {error.strerror or error}") from error
    port = _bound_port(runner, config.port)
    url = dataclasses.replace(config, port=port).url
    await moorage.start(url)
    app[READY].ready = True
    announce(f"Moorage is listening on {url} (health: {url}{HEALTH_PATH}); data in {config.data_dir}")
    if config.tls:
        announce(f"TLS: trust the Moorage CA at {pki.ca_bundle} (AWS_CA_BUNDLE={pki.ca_bundle}, or --ca-bundle)")
    sys.stdout.flush()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        announce("Moorage is stopping: stopping control planes")
        app[READY].ready = False
        await moorage.stop()
        await runner.cleanup()
        announce("Moorage stopped")
