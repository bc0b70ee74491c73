"""``cati verify BUNDLE.zip``: check a verification kit; needs nothing but the project installed.

Exit 0 with a short report when every check passes, 1 naming the first mismatch, 2 when the file
is not a kit. zh-CN by default, ``--lang en`` for English. The checks are ``cati.verify.check``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cati.cli.common import CliError
from cati.verify.check import Mismatch, NotABundle, verify_bundle

LANGS = ("zh-CN", "en")


@click.command("verify")
@click.argument("bundle", metavar="BUNDLE.zip", type=click.Path(path_type=Path))
@click.option("--lang", type=click.Choice(LANGS), default="zh-CN", show_default=True, help="Report language.")
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A checkpoint you saved during fieldwork (cati audit checkpoint): the kit's log must extend it.",
)
@click.option(
    "--fingerprint", default=None, help="The key fingerprint you wrote down: the kit's key must have it."
)
def verify(bundle: Path, lang: str, checkpoints: tuple[Path, ...], fingerprint: str | None) -> None:
    """Check a campaign's verification kit (cati results bundle): sample, dispositions, scores,
    results digest, sign-offs, audit log and checkpoints."""
    own: list[tuple[str, str]] = []
    for path in checkpoints:
        try:
            own.append((path.name, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise CliError(f"{path}: {'cannot read' if lang == 'en' else '无法读取'}: {reason}") from None
    try:
        report = verify_bundle(bundle, own_checkpoints=own, key_fingerprint=fingerprint)
    except NotABundle as exc:
        raise CliError(exc.text(lang)) from None
    except Mismatch as exc:
        if lang == "en":
            click.echo(f"FAILED: {exc.check(lang)}: {exc.text(lang)}")
        else:
            click.echo(f"核验失败：{exc.check(lang)}：{exc.text(lang)}")
        sys.exit(1)
    title = f"核验包 {report.campaign}" if lang != "en" else f"Verification kit {report.campaign}"
    click.echo(title)
    for check, text in report.lines:
        click.echo(
            f"  ✓ {check(lang)}：{text(lang)}" if lang != "en" else f"  ok {check(lang)}: {text(lang)}"
        )
    click.echo("全部核验通过。" if lang != "en" else "Every check passed.")
