"""Signed checkpoints of the audit chain (issue 8): the outside anchor a witness keeps (docs/audit.md)."""

from cati.checkpoints.keys import KeyFileError, Signer, SignerSource, key_path
from cati.checkpoints.service import (
    Checkpoint,
    CheckpointFileError,
    CheckResult,
    bind_signer,
    check_against,
    checkpoint_if_bound,
    parse,
    write_checkpoint,
)

__all__ = [
    "CheckResult",
    "Checkpoint",
    "CheckpointFileError",
    "KeyFileError",
    "Signer",
    "SignerSource",
    "bind_signer",
    "check_against",
    "checkpoint_if_bound",
    "key_path",
    "parse",
    "write_checkpoint",
]
