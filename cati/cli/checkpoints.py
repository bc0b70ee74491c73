"""``cati audit key``, ``cati audit checkpoint`` and the ``--checkpoint`` check of ``cati audit verify``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session

from cati.audit import VerifyResult
from cati.checkpoints import (
    Checkpoint,
    CheckpointFileError,
    CheckResult,
    KeyFileError,
    SignerSource,
    check_against,
    parse,
    write_checkpoint,
)
from cati.cli.common import CliError, cli_session, data_dir_option, load_settings, write_atomically
from cati.settings import Settings


def checkpoint_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--checkpoint FILE`` (repeatable): a checkpoint the log must extend."""
    return click.option(
        "--checkpoint",
        "checkpoint",
        multiple=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="A saved checkpoint (JSON) the log must extend; repeatable. 须包含的检查点文件，可重复。",
    )(func)


def read_checkpoints(paths: tuple[Path, ...]) -> list[tuple[str, Checkpoint]]:
    """Each file parsed; a file that is not a checkpoint stops the command with exit status 2."""
    out: list[tuple[str, Checkpoint]] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
            raise CliError(
                f"无法读取检查点文件 {path} / cannot read checkpoint file {path}: {reason}"
            ) from None
        try:
            out.append((str(path), parse(text)))
        except CheckpointFileError as exc:
            raise CliError(f"检查点文件 {path} 无效 / bad checkpoint file {path}: {exc}") from None
    return out


@dataclass
class AnchorReport:
    """The checkpoints' outcomes, printed after the chain's own summary."""

    results: list[CheckResult]
    local_fingerprint: str | None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.problem is None for r in self.results)

    def echo(self) -> None:
        for note in self.notes:
            click.echo(note, err=True)
        stored_ok = 0
        for r in self.results:
            cp = r.checkpoint
            if r.problem is not None:
                click.echo(
                    f"检查点不符 / checkpoint FAILED {r.name} (size {cp.size}, at {cp.at}): {r.problem}",
                    err=True,
                )
                continue
            if r.name.startswith("stored #"):
                stored_ok += 1
                continue
            click.echo(
                f"检查点相符 / checkpoint ok {r.name}: the log extends it "
                f"(size {cp.size}, at {cp.at}, key {cp.key_fingerprint})"
            )
            if self.local_fingerprint is not None and cp.key_fingerprint != self.local_fingerprint:
                click.echo(
                    f"注意：签名密钥不是本服务当前的密钥 / note: signed by key {cp.key_fingerprint}, "
                    f"not this service's key {self.local_fingerprint}",
                    err=True,
                )
        if stored_ok:
            click.echo(f"存储的检查点均相符 / stored checkpoints ok: {stored_ok}")


def check_checkpoints(
    session: Session, settings: Settings, given: list[tuple[str, Checkpoint]], chain: VerifyResult
) -> AnchorReport:
    """Check the given checkpoints and the stored ones against the log (never creates a key)."""
    notes: list[str] = []
    local: str | None = None
    try:
        signer = SignerSource(settings).existing()
        local = signer.fingerprint if signer is not None else None
    except KeyFileError as exc:
        notes.append(f"注意 / note: {exc.detail}")
    return AnchorReport(check_against(session, given, chain), local, notes)


def _signer(settings: Settings) -> SignerSource:
    source = SignerSource(settings)
    try:
        source.get()
    except KeyFileError as exc:
        raise CliError(str(exc.detail)) from None
    return source


@click.command("key")
@data_dir_option
def audit_key(data_dir: Path | None) -> None:
    """Show the checkpoint signing key's fingerprint (created on first use)."""
    settings = load_settings(data_dir)
    signer = _signer(settings).get()
    click.echo(f"密钥文件 / key file: {signer.path}")
    click.echo("算法 / algorithm: Ed25519")
    click.echo(f"公钥 / public key: {signer.public_raw.hex()}")
    click.echo(f"fingerprint (SHA-256 of the raw public key / 公钥指纹): {signer.fingerprint}")


def _write_atomically(path: Path, text: str) -> None:
    try:
        write_atomically(path, text.encode("utf-8"))
    except OSError as exc:
        raise CliError(f"无法写入 {path} / cannot write {path}: {exc.strerror}") from None


@click.command("checkpoint")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the checkpoint JSON to FILE instead of printing it. 写入文件。",
)
@data_dir_option
def audit_checkpoint(output: Path | None, data_dir: Path | None) -> None:
    """Sign the chain's current size and head hash, store the checkpoint and print it (JSON)."""
    settings = load_settings(data_dir)
    signer = _signer(settings).get()
    with cli_session(settings) as session:
        checkpoint = write_checkpoint(session, signer, reason="cli")
        text = checkpoint.dumps()
        if output is not None:
            _write_atomically(output, text)  # before the commit: a failed write stores nothing
    if output is None:
        click.echo(text, nl=False)
    else:
        click.echo(
            f"检查点已写入 {output}（共 {checkpoint.size} 条）/ checkpoint written to {output} "
            f"(size {checkpoint.size})",
            err=True,
        )
    click.echo(f"key fingerprint / 公钥指纹: {signer.fingerprint}", err=True)
