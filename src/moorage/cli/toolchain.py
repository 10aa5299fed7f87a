"""`moorage toolchain install|list`: the upstream binaries Moorage runs."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ..infra.progress import Reporter
from ..infra.toolchain import ToolchainCache, default_cache_dir
from ..infra.toolchain.catalog import (
    KUBERNETES_VERSIONS,
    VersionError,
    all_binaries,
    kubernetes_binaries,
    resolve_kubernetes_version,
    shared_binaries,
)
from ..infra.toolchain.install import Installer, SourcePolicy, ToolchainError

cache_dir_option = click.option(
    "--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Toolchain cache [default: $MOORAGE_TOOLCHAIN_DIR or ~/.cache/moorage/toolchain].",
)


def _cache(cache_dir: Path | None) -> ToolchainCache:
    return ToolchainCache((cache_dir or default_cache_dir()).expanduser())


@click.group()
def toolchain() -> None:
    """Install and list Kubernetes, etcd and kwok binaries."""


@toolchain.command()
@click.option(
    "--k8s-version", "k8s_version", default=None, metavar="X.Y[.Z]",
    help=f"Install one Kubernetes version only (pinned: {', '.join(KUBERNETES_VERSIONS)}); default: all.",
)
@click.option(
    "--source", type=click.Choice([p.value for p in SourcePolicy]), default=SourcePolicy.AUTO.value,
    envvar="MOORAGE_TOOLCHAIN_SOURCE", show_default=True,
    help="auto: official downloads where checksums are published, else a Go module build.",
)
@cache_dir_option
def install(k8s_version: str | None, source: str, cache_dir: Path | None) -> None:
    """Obtain every missing or damaged binary (cache, official download, or Go build)."""
    try:
        if k8s_version is None:
            binaries = all_binaries()
        else:
            binaries = kubernetes_binaries(resolve_kubernetes_version(k8s_version)) + shared_binaries()
    except VersionError as error:
        raise click.BadParameter(str(error), param_hint="--k8s-version") from error
    reporter = Reporter()
    installer = Installer(_cache(cache_dir), policy=SourcePolicy(source), reporter=reporter)
    try:
        result = installer.install(binaries)
    except ToolchainError as error:
        raise click.ClickException(str(error)) from error
    parts = [f"{len(result.from_cache)} cached"]
    if result.downloaded:
        parts.append(f"{len(result.downloaded)} downloaded")
    if result.built:
        parts.append(f"{len(result.built)} built")
    if result.repaired:
        parts.append(f"{len(result.repaired)} repaired")
    reporter.info(f"Toolchain ready in {installer.cache.root}: " + ", ".join(parts))


@toolchain.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@cache_dir_option
def list_(as_json: bool, cache_dir: Path | None) -> None:
    """Show every pinned binary: path, version, sha256 and whether it is installed intact."""
    cache = _cache(cache_dir)
    rows = []
    for binary in all_binaries():
        entry = cache.entry(binary)
        verified = cache.verified(binary) is not None
        rows.append(
            {
                "component": binary.component,
                "version": binary.version,
                "installed": verified,
                "status": "ok" if verified else ("damaged" if entry else "missing"),
                "path": str(cache.path_for(binary)) if entry else None,
                "sha256": entry.sha256 if entry else None,
                "size": entry.size if entry else None,
                "source": entry.source if entry else None,
                "installed_at": entry.installed_at if entry else None,
            }
        )
    if as_json:
        click.echo(json.dumps({"cache_dir": str(cache.root), "binaries": rows}, indent=2))
        return
    table = Table(title=f"Toolchain in {cache.root}")
    for column in ("component", "version", "status", "source", "sha256", "path"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["component"], row["version"], row["status"], row["source"] or "",
            (row["sha256"] or "")[:16], row["path"] or "",
        )
    Console().print(table)
