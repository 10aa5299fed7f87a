"""`moorage up`: run the service in the foreground."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click

from ..config import DEFAULT_HOST, DEFAULT_PORT, TLS_ENV, ServerConfig, default_data_dir, is_loopback
from ..server import StartupError, serve

# One request-serving process per core: the main process takes one, workers the others.
DEFAULT_API_WORKERS = max(0, min((os.cpu_count() or 1) - 1, 3))


@click.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535),
    help="Port for the AWS endpoint and /_moorage/health (0 picks a free one).",
)
@click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Where state is kept [default: $MOORAGE_DATA_DIR or ~/.local/share/moorage].",
)
@click.option(
    "--api-workers", type=click.IntRange(0, 16), default=DEFAULT_API_WORKERS, show_default=True,
    help="Extra processes serving the AWS endpoint on the same port (reconcilers stay in the main process).",
)
@click.option(
    "--node-startup-delay", type=click.FloatRange(0, 3600), default=0.0, show_default=True, metavar="SECONDS",
    envvar="MOORAGE_NODE_STARTUP_DELAY", help="Simulated nodes: creation to Ready (EC2 boot and kubelet join take ~60 s on AWS).",
)
@click.option(
    "--pod-startup-delay", type=click.FloatRange(0, 3600), default=0.0, show_default=True, metavar="SECONDS",
    envvar="MOORAGE_POD_STARTUP_DELAY", help="Simulated nodes: pod bound to Running. A node or pod annotation "
    "moorage.dev/startup-delay (e.g. 45s) overrides it for that object.",
)
@click.option(
    "--pod-eviction-timeout", type=click.FloatRange(0, 86400), default=900.0, show_default=True, metavar="SECONDS",
    envvar="MOORAGE_POD_EVICTION_TIMEOUT", help="Node-group version updates: how long evictions blocked by a "
    "PodDisruptionBudget are retried before the update fails with PodEvictionFailure (EKS: 15 minutes).",
)
@click.option(
    "--node-drain-timeout", type=click.FloatRange(0, 86400), default=300.0, show_default=True, metavar="SECONDS",
    envvar="MOORAGE_NODE_DRAIN_TIMEOUT", help="DeleteNodegroup: how long a node's drain (evictions a "
    "PodDisruptionBudget blocks) may take before the node is terminated anyway (EKS: 5 minutes).",
)
@click.option(
    "--addon-ready-timeout", type=click.FloatRange(1, 3600), default=60.0, show_default=True, metavar="SECONDS",
    envvar="MOORAGE_ADDON_READY_TIMEOUT", help="EKS add-ons: how long after installing an add-on its workloads may "
    "stay not ready before it is DEGRADED (InsufficientNumberOfReplicas).",
)
@click.option(
    "--tls/--no-tls", default=None, envvar=TLS_ENV, show_default="on unless --host is a loopback address",
    help="Serve the AWS endpoint over HTTPS with a certificate from the Moorage CA in the data dir "
    "(<data dir>/tls/ca.crt: AWS_CA_BUNDLE, and the moorage profile's ca_bundle).",
)
def up(host: str, port: int, data_dir: Path | None, api_workers: int, node_startup_delay: float, pod_startup_delay: float,
       pod_eviction_timeout: float, node_drain_timeout: float, addon_ready_timeout: float, tls: bool | None) -> None:
    """Start Moorage in the foreground; Ctrl-C (SIGINT) or SIGTERM stops it cleanly."""
    if tls is None:
        tls = not is_loopback(host)
    elif not tls and not is_loopback(host):
        click.echo(f"Warning: --no-tls on {host}: requests and the credentials STS and IAM return cross the network "
                   "in plain text, and aws:SecureTransport is false", err=True)
    config = ServerConfig(
        tls=tls,
        host=host, port=port, data_dir=(data_dir or default_data_dir()).expanduser(),
        node_startup_delay=node_startup_delay, pod_startup_delay=pod_startup_delay,
        pod_eviction_timeout=pod_eviction_timeout, node_drain_timeout=node_drain_timeout,
        addon_ready_timeout=addon_ready_timeout,
    )
    try:
        asyncio.run(serve(config, announce=lambda message: click.echo(message), api_workers=api_workers))
    except StartupError as error:
        raise click.ClickException(str(error)) from error
