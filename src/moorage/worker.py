"""An API worker: serves requests on the main process's port (SO_REUSEPORT) from the shared store.

Started by `moorage up --api-workers N`, never by hand. It dies with its parent (PR_SET_PDEATHSIG),
so a crashed Moorage leaves no stale workers holding the port.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from .composition import Frontend
from .gateway.app import READY, create_app
from .infra.endpoint_tls import server_context
from .services.accounts import ensure_root_account
from .store import SqliteStore

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        sys.exit(0)


async def serve(host: str, port: int, data_dir: Path, url: str, tls: bool = False) -> None:
    store = SqliteStore(data_dir / "state.db")
    root, _ = ensure_root_account(store)
    frontend = Frontend(store, root)
    frontend.wire(url)
    app = create_app(frontend.aws, oidc=frontend.oidc)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=1024, reuse_port=True,
                      ssl_context=server_context(data_dir) if tls else None).start()
    app[READY].ready = True
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="moorage.worker")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with the main process's certificate")
    args = parser.parse_args()
    die_with_parent(args.parent)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s worker %(name)s: %(message)s")
    asyncio.run(serve(args.host, args.port, args.data_dir, args.url, args.tls))


if __name__ == "__main__":
    main()
