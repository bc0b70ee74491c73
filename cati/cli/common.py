"""Shared pieces of the CLI: the error type, settings and database access for commands."""

from __future__ import annotations

import getpass
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from sqlalchemy.orm import Session

from cati.db import make_engine, make_sessionmaker, transaction
from cati.settings import Settings, SettingsError


class CliError(click.ClickException):
    """A user's mistake: one line on stderr, exit status 2."""

    exit_code = 2

    def show(self, file: object = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def write_atomically(path: Path, data: bytes) -> None:
    """A temporary file in the same directory, fsynced, then renamed over ``path``: never a
    half-written file. Raises OSError (the temporary file removed); the caller words the message."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_settings(data_dir: Path | None = None) -> Settings:
    """Settings from the environment, optionally with another data directory."""
    try:
        settings = Settings()
        if data_dir is not None:
            settings = settings.model_copy(update={"data_dir": data_dir})
        return settings
    except ValidationError as exc:
        # Only the messages: pydantic's text would echo the input values, secrets included.
        problems = "; ".join(_setting_problem(e) for e in exc.errors())
        raise CliError(f"配置错误 / bad settings: {problems}") from None
    except SettingsError as exc:
        raise CliError(f"配置错误 / bad settings: {exc}") from None


def _setting_problem(error: Any) -> str:
    loc = ".".join(str(part) for part in error.get("loc", ()))
    msg = str(error.get("msg", "")).removeprefix("Value error, ")
    return f"CATI_{loc.upper()}: {msg}" if loc else msg


def data_dir_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--data-dir``: overrides ``CATI_DATA_DIR`` for this command."""
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Data directory (default: CATI_DATA_DIR, else ./cati-data).",
    )(func)


def cli_actor() -> str:
    """The audit actor for a command run from a shell: ``cli:<login name>``."""
    try:
        name = getpass.getuser()
    except Exception:
        name = "unknown"
    return f"cli:{name}"[:64]


@contextmanager
def cli_session(settings: Settings) -> Iterator[Session]:
    """A session for one CLI command, committed when the command succeeds."""
    from cati.checkpoints import SignerSource, bind_signer

    engine = make_engine(settings.effective_database_url)
    try:
        factory = make_sessionmaker(engine)
        # Campaign status changes sign a checkpoint (docs/audit.md); the key loads only then.
        bind_signer(factory, SignerSource(settings))
        with transaction(factory) as session:
            yield session
    finally:
        engine.dispose()
