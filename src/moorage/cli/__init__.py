"""The `moorage` command."""

from __future__ import annotations

import click

from .. import __version__
from .nodes import nodes
from .toolchain import toolchain
from .up import up


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="moorage")
def main() -> None:
    """Moorage: Amazon EKS on your own machine."""


main.add_command(up)
main.add_command(toolchain)
main.add_command(nodes)
