"""The ``flickrhub`` command line: run the services, inspect the installation, and
talk to a running API (``auth``, ``call``, ``upload``, ...)."""

from flickrhub_core.cli import client_cmds, dlq_cmds, info_cmds, serve_cmds, tokens_cmds
from flickrhub_core.cli.app import cli

__all__ = ["cli", "main"]

# Importing the command modules registers their commands on ``cli``.
_COMMAND_MODULES = (client_cmds, dlq_cmds, info_cmds, serve_cmds, tokens_cmds)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="flickrhub")
