"""The ``cati`` console script: one entry point, one command group per feature.

Each feature keeps its commands in its own module here and is listed in ``_GROUPS``. Errors a user
can make exit with status 2 and one clear line on stderr; nothing prints a traceback unless
``CATI_DEBUG=1``.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from cati.api.guards import BAD_CHAR_MESSAGE, has_bad_char
from cati.cli.common import CliError

# module path -> attribute holding a click command or group (or a tuple of them)
_GROUPS: list[tuple[str, str]] = [
    ("cati.cli.db", "db"),
    ("cati.cli.user", "user"),
    ("cati.cli.campaign", "campaign"),
    ("cati.cli.audit", "audit"),
    ("cati.cli.serve", "serve"),
    ("cati.cli.demo", "demo"),
    ("cati.cli.score", "commands"),
    ("cati.cli.results", "results"),
    ("cati.cli.rdd", "rdd_group"),
    ("cati.cli.simpbx", "simpbx"),
    ("cati.cli.verify", "verify"),
]


class _Cli(click.Group):
    """The ``cati`` group: refuses arguments that no database can store, before any command runs."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Bytes that are not UTF-8 reach Python as lone surrogates (surrogateescape), which neither
        # SQLite nor PostgreSQL can store; NUL cannot come through argv but can through Python callers.
        for arg in args:
            if has_bad_char(arg):
                shown = arg.encode("utf-8", "backslashreplace").decode("ascii", "replace")
                raise CliError(f"参数 {shown!r} {BAD_CHAR_MESSAGE}")
        return super().parse_args(ctx, args)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cati")
def cli() -> None:
    """CATI service: random-digit dialling, Asterisk AMI, the 1+10 satisfaction survey."""


for _module, _attr in _GROUPS:
    _found = getattr(importlib.import_module(_module), _attr)
    for _command in _found if isinstance(_found, tuple) else (_found,):
        cli.add_command(_command)


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; turn unexpected failures into one line instead of a traceback."""
    try:
        return cli.main(args=argv, prog_name="cati", standalone_mode=True)
    except CliError:
        raise
    except Exception as exc:  # the last door: never a traceback for a user
        if os.environ.get("CATI_DEBUG"):
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
