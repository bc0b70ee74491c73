"""The audit signing key (Ed25519): created once, kept private, loaded once per key path.

The key is a PEM (PKCS#8) file readable by its owner only. It is created on first use in
``<data dir>/keys/`` (a directory of its own, mode 0700) unless ``CATI_SIGNING_KEY_FILE`` points
elsewhere; creation writes a temporary file and links it into place, so the file is never seen
half-written and two processes starting together end up with the same key.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cati.errors import AppError
from cati.settings import Settings
from cati.verify.checkpoint import fingerprint, verify_signature

__all__ = [
    "KeyFileError",
    "Signer",
    "SignerSource",
    "fingerprint",
    "key_path",
    "load_key",
    "load_or_create",
    "verify_signature",
]

KEY_DIR = "keys"
KEY_NAME = "audit-signing-key.pem"


class KeyFileError(AppError):
    """The signing key file cannot be used; the message names the file and why."""

    status_code = 503


@dataclass(frozen=True)
class Signer:
    """An Ed25519 private key with its public half, ready to sign checkpoints."""

    private_key: Ed25519PrivateKey
    public_raw: bytes
    path: Path

    @classmethod
    def from_private_key(cls, key: Ed25519PrivateKey, path: Path) -> Signer:
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return cls(key, raw, path)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_raw)

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)


def key_path(settings: Settings) -> Path:
    """Where the signing key lives: ``CATI_SIGNING_KEY_FILE`` or ``<data dir>/keys/``."""
    if settings.signing_key_file is not None:
        return settings.signing_key_file
    return settings.data_dir / KEY_DIR / KEY_NAME


def _err(path: Path, zh: str, en: str) -> KeyFileError:
    return KeyFileError(f"签名密钥文件 {path} 不可用：{zh} / signing key file {path} unusable: {en}")


def load_key(path: Path) -> Signer:
    """Read an existing key file; refuse one others may read or that is not an Ed25519 PEM key."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise _err(path, "不是普通文件", "not a regular file")
        if os.name == "posix" and st.st_mode & 0o077:
            raise _err(
                path,
                f"权限 {stat.S_IMODE(st.st_mode):04o} 过宽，应为 0600",
                f"mode {stat.S_IMODE(st.st_mode):04o} lets others read it; chmod 600 it",
            )
        data = path.read_bytes()
    except OSError as exc:
        raise _err(path, f"无法读取（{exc.strerror}）", f"cannot read it ({exc.strerror})") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnicodeError):
        raise _err(path, "不是未加密的 PEM 私钥", "not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise _err(path, "不是 Ed25519 密钥", "not an Ed25519 key")
    return Signer.from_private_key(key, path)


def _create_key(path: Path, *, own_dir: bool) -> None:
    """Write a new key atomically with mode 0600; keep the key another process wrote first."""
    parent = path.parent
    try:
        if own_dir:
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(parent, 0o700)  # mkdir's mode is masked by the umask
        else:
            parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        tmp = parent / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # never replaces: a key already there (a racing process's) wins
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise _err(path, f"无法创建（{exc.strerror}）", f"cannot create it ({exc.strerror})") from None


def load_or_create(path: Path, *, own_dir: bool = False) -> Signer:
    """The key at ``path``, created first if there is none."""
    if not path.exists() and not path.is_symlink():
        _create_key(path, own_dir=own_dir)
    return load_key(path)


_cache: dict[Path, Signer] = {}
_cache_lock = threading.Lock()


class SignerSource:
    """Loads the key on first use and caches it per key path, so services do no file I/O of their own."""

    def __init__(self, settings: Settings) -> None:
        self.path = key_path(settings)
        self._own_dir = settings.signing_key_file is None

    def get(self) -> Signer:
        resolved = self.path.resolve()
        with _cache_lock:
            signer = _cache.get(resolved)
            if signer is None:
                signer = load_or_create(self.path, own_dir=self._own_dir)
                _cache[resolved] = signer
            return signer

    def existing(self) -> Signer | None:
        """The key if its file exists (verifying never creates a key); errors if it is unusable."""
        if not self.path.exists():
            return None
        return self.get()
