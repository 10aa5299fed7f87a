"""`moorage up`: run the service in the foreground."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from ..config import DEFAULT_HOST, DEFAULT_PORT, ServerConfig, default_data_dir
from ..gateway.server import StartupError, serve


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
def up(host: str, port: int, data_dir: Path | None) -> None:
    """Start Moorage in the foreground; Ctrl-C (SIGINT) or SIGTERM stops it cleanly."""
    config = ServerConfig(host=host, port=port, data_dir=(data_dir or default_data_dir()).expanduser())
    try:
        asyncio.run(serve(config, announce=lambda message: click.echo(message)))
    except StartupError as error:
        raise click.ClickException(str(error)) from error
