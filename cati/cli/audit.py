"""``cati audit``: check the hash chain of the audit log and the scored data against it; sign and check
checkpoints (docs/audit.md, docs/audit-ledger.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy import select

from cati.audit import verify_chain
from cati.cli import checkpoints as checkpoint_commands
from cati.cli.checkpoints import check_checkpoints, checkpoint_option, read_checkpoints
from cati.cli.common import cli_session, data_dir_option, load_settings
from cati.ledger import LedgerResult, snapshot, verify_ledger
from cati.models import AuditEntry


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@checkpoint_option
@data_dir_option
def audit_verify(checkpoint: tuple[Path, ...], data_dir: Path | None) -> None:
    """Recompute the chain, check answers, interviews and attempts against it (the ledger), and check
    that the log extends every stored checkpoint and every --checkpoint FILE.

    Exit 0 with a summary, or exit 1 naming the first broken entry, every row (table, id) that
    contradicts the entry that last wrote it, or the checkpoint the log does not extend.
    """
    settings = load_settings(data_dir)
    given = read_checkpoints(checkpoint)
    with cli_session(settings) as session:
        snapshot(session)
        result = verify_chain(session)
        data = verify_ledger(session) if result.ok else None
        anchors = check_checkpoints(session, settings, given, result)
        last = session.execute(
            select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)
        ).scalar_one_or_none()
        head = (
            f", last entry {last.seq} at {last.at:%Y-%m-%d %H:%M:%S}Z, hash {last.hash[:16]}" if last else ""
        )
    if result.ok:
        n = result.checked
        click.echo(f"审计链完好，已核对 {n} 条 / audit chain ok: {n} entries verified{head}")
        anchors.echo()
        assert data is not None
        ledger_ok = _report_ledger(data)
        if not (anchors.ok and ledger_ok):
            sys.exit(1)
        return
    where = f"entry {result.broken_seq}" if result.broken_seq is not None else "the chain head"
    click.echo(
        f"审计链断裂 / audit chain BROKEN at {where}: {result.reason} "
        f"({result.checked} entries verified before it)",
        err=True,
    )
    anchors.echo()
    sys.exit(1)


def _report_ledger(data: LedgerResult) -> bool:
    """Print the data check; False when any row contradicts the ledger."""
    if data.ok:
        click.echo(
            f"数据与审计账本一致: {data.rows} 行已核对 / "
            f"ledger ok: {data.rows} rows of answers, interviews and attempts match the chain"
        )
        return True
    click.echo(
        f"数据与审计账本不符 / LEDGER BROKEN: {len(data.findings) + data.more} rows contradict "
        f"the audit chain ({data.rows} rows checked)",
        err=True,
    )
    for f in data.findings:
        click.echo(f"  {f.zh()} / {f.en()}", err=True)
    if data.more:
        click.echo(f"  ……另有 {data.more} 行 / ... and {data.more} more rows", err=True)
    return False


# ``cati audit key`` and ``cati audit checkpoint`` (docs/audit.md).
audit.add_command(checkpoint_commands.audit_key)
audit.add_command(checkpoint_commands.audit_checkpoint)
