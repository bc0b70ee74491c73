"""``cati audit``: check the hash chain of the audit log; sign and check checkpoints (docs/audit.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy import select

from cati.audit import verify_chain
from cati.cli import checkpoints as checkpoint_commands
from cati.cli.checkpoints import check_checkpoints, checkpoint_option, read_checkpoints
from cati.cli.common import cli_session, data_dir_option, load_settings
from cati.models import AuditEntry


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@checkpoint_option
@data_dir_option
def audit_verify(checkpoint: tuple[Path, ...], data_dir: Path | None) -> None:
    """Recompute the chain: exit 0 with a summary, or exit 1 naming the first broken entry.

    Then check that the log extends every stored checkpoint and every --checkpoint FILE.
    """
    settings = load_settings(data_dir)
    given = read_checkpoints(checkpoint)
    with cli_session(settings) as session:
        result = verify_chain(session)
        anchors = check_checkpoints(session, settings, given, result)
        last = session.execute(
            select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)
        ).scalar_one_or_none()
        head = (
            f", last entry {last.seq} at {last.at:%Y-%m-%d %H:%M:%S}Z, hash {last.hash[:16]}" if last else ""
        )
    if result.ok:
        click.echo(f"audit chain ok: {result.checked} entries verified{head}")
        anchors.echo()
        if not anchors.ok:
            sys.exit(1)
        return
    where = f"entry {result.broken_seq}" if result.broken_seq is not None else "the chain head"
    click.echo(
        f"audit chain BROKEN at {where}: {result.reason} ({result.checked} entries verified before it)",
        err=True,
    )
    anchors.echo()
    sys.exit(1)


# ``cati audit key`` and ``cati audit checkpoint`` (docs/audit.md).
audit.add_command(checkpoint_commands.audit_key)
audit.add_command(checkpoint_commands.audit_checkpoint)
