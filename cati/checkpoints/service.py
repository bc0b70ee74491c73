"""Signed checkpoints of the audit chain, and the proof that the log extends one.

A checkpoint states "the chain had ``size`` entries and its last hash was ``head_hash`` at ``at``",
signed with the service's Ed25519 key. The signed bytes are four text lines (docs/audit.md)::

    cati-audit-checkpoint/1\\n<size>\\n<head_hash>\\n<at>\\n

The log extends a checkpoint when the chain verifies and its entry ``size`` carries ``head_hash``
(every entry's hash covers the one before it, so the whole prefix is then the one signed). Services
only flush: the caller's transaction stores a checkpoint with the change it follows, or neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cati.audit import GENESIS_HASH, VerifyResult, verify_chain
from cati.checkpoints.keys import Signer, SignerSource
from cati.models import AuditCheckpoint, AuditEntry, AuditHead, Campaign, CampaignStatus, utcnow
from cati.verify.chain import format_at
from cati.verify.checkpoint import FORMAT, Checkpoint, CheckpointFileError, parse, signed_bytes

__all__ = [
    "FORMAT",
    "CheckResult",
    "Checkpoint",
    "CheckpointFileError",
    "bind_signer",
    "check_against",
    "checkpoint_if_bound",
    "parse",
    "signed_bytes",
    "write_checkpoint",
]

_SIGNER_KEY = "cati.checkpoint_signer"


def _head(session: Session) -> tuple[int, str]:
    # populate_existing: the head may be advanced by a Core UPDATE (cati.audit.seal on PostgreSQL)
    # behind an AuditHead object this session loaded earlier.
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if head is None:
        return 0, GENESIS_HASH
    return head.last_seq, head.last_hash


def write_checkpoint(session: Session, signer: Signer, *, reason: str) -> Checkpoint:
    """Sign the chain's head as this transaction sees it and store the checkpoint (flushed only)."""
    size, head_hash = _head(session)
    now = utcnow()
    at = format_at(now)
    sig = signer.sign(signed_bytes(size, head_hash, at))
    checkpoint = Checkpoint(size, head_hash, at, signer.public_raw.hex(), sig.hex())
    session.add(
        AuditCheckpoint(
            format=FORMAT,
            size=size,
            head_hash=head_hash,
            at=now,
            reason=reason[:64],
            public_key=checkpoint.public_key,
            signature=checkpoint.signature,
        )
    )
    session.flush()
    return checkpoint


def bind_signer(factory: sessionmaker[Session], source: SignerSource) -> None:
    """Give every session of ``factory`` the signing key, for checkpoints written inside services."""
    info = dict(factory.kw.get("info") or {})
    info[_SIGNER_KEY] = source
    factory.configure(info=info)


def checkpoint_if_bound(session: Session, *, reason: str) -> Checkpoint | None:
    """Write a checkpoint if the edge bound a signer to this session (the service and CLI always do)."""
    source = session.info.get(_SIGNER_KEY)
    if not isinstance(source, SignerSource):
        return None
    return write_checkpoint(session, source.get(), reason=reason)


def any_fieldwork(session: Session) -> bool:
    """Whether some campaign is in fieldwork (the periodic checkpoints run only then)."""
    found = session.execute(
        select(Campaign.id).where(Campaign.status == CampaignStatus.fieldwork.value).limit(1)
    ).first()
    return found is not None


def stored(session: Session) -> Sequence[AuditCheckpoint]:
    """Every stored checkpoint, oldest first."""
    return session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id)).scalars().all()


def from_row(row: AuditCheckpoint) -> Checkpoint:
    return Checkpoint(row.size, row.head_hash, format_at(row.at), row.public_key, row.signature, row.format)


def latest(session: Session) -> Checkpoint | None:
    row = session.execute(
        select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)
    ).scalar_one_or_none()
    return from_row(row) if row is not None else None


def extension_problem(session: Session, checkpoint: Checkpoint) -> str | None:
    """Why the log is not an extension of ``checkpoint`` (zh-CN / English), or None if it is.

    Assumes the chain itself verified (``verify_chain``); this adds what the chain cannot show.
    """
    if not checkpoint.signature_ok():
        return "签名无效 / signature invalid (the checkpoint was altered or not signed by this key)"
    head_seq, _ = _head(session)
    size = checkpoint.size
    if head_seq < size:
        return (
            f"日志比检查点短：链头在第 {head_seq} 条，检查点覆盖 {size} 条（条目被删除、链头被重置） / "
            f"log is shorter than the checkpoint: head at entry {head_seq}, checkpoint covers {size} "
            "(entries deleted and the head reset)"
        )
    if size == 0:
        if checkpoint.head_hash != GENESIS_HASH:
            return "空日志检查点的哈希不是创世哈希 / an empty-log checkpoint must carry the genesis hash"
        return None
    entry = session.execute(select(AuditEntry).where(AuditEntry.seq == size)).scalar_one_or_none()
    if entry is None:
        return f"第 {size} 条已不存在（被删除） / entry {size} is missing (deleted)"
    if entry.hash != checkpoint.head_hash:
        return (
            f"第 {size} 条的哈希与检查点不同（条目被修改后重算哈希） / entry {size} has another hash than "
            f"the checkpoint ({entry.hash[:16]} != {checkpoint.head_hash[:16]}): entries edited and re-hashed"
        )
    return None


@dataclass(frozen=True)
class CheckResult:
    """One checkpoint's outcome: the name it was given (file or ``stored #id``) and the problem, if any."""

    name: str
    checkpoint: Checkpoint
    problem: str | None


def check_against(
    session: Session, named: Sequence[tuple[str, Checkpoint]], chain: VerifyResult | None = None
) -> list[CheckResult]:
    """Each checkpoint (given files, then the stored table) checked against the log as it is now.

    A broken chain fails them all: a log that does not verify extends nothing. Pass the chain's
    result if the caller has it (recomputing a long chain twice is slow).
    """
    if chain is None:
        chain = verify_chain(session)
    out: list[CheckResult] = []
    for name, cp in [*named, *((f"stored #{row.id}", from_row(row)) for row in stored(session))]:
        problem = extension_problem(session, cp)
        if problem is None and not chain.ok:
            problem = f"审计链本身已损坏 / the audit chain itself is broken ({chain.reason})"
        out.append(CheckResult(name, cp, problem))
    return out
