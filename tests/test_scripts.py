"""The README's shell entry points pass the user's options through to ``cati`` untouched."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _fake_checkout(tmp_path: Path) -> Path:
    """A copy of scripts/ with a stub .venv that is already installed (no pip, no network)."""
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "scripts", checkout / "scripts")
    shutil.copy(ROOT / "pyproject.toml", checkout / "pyproject.toml")
    bin_dir = checkout / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    # A stub python that fails: any attempt to (re)install shows up as a failed run.
    (bin_dir / "python").write_text("#!/bin/sh\necho \"python called: $*\" >&2\nexit 9\n")
    (bin_dir / "cati").write_text("#!/bin/sh\necho \"cati $*\"\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    stamp = checkout / ".venv" / ".installed"
    stamp.touch()
    later = (checkout / "pyproject.toml").stat().st_mtime + 10
    os.utime(stamp, (later, later))
    return checkout


def test_demo_script_passes_options_to_cati_demo(tmp_path: Path) -> None:
    checkout = _fake_checkout(tmp_path)
    proc = subprocess.run(
        ["bash", str(checkout / "scripts" / "demo.sh"), "--port", "18080", "--speed", "60"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "cati demo --port 18080 --speed 60"
    assert "python called" not in proc.stderr
