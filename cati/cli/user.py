"""``cati user``: accounts. The password comes from a hidden prompt (asked twice) or from stdin."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cati.auth.service import create_user
from cati.cli.common import CliError, cli_actor, cli_session, data_dir_option, load_settings
from cati.errors import AppError
from cati.models import Role


@click.group()
def user() -> None:
    """User accounts and roles."""


@user.command("create")
@click.option("--username", required=True, help="Login name (no spaces).")
@click.option(
    "--role", required=True, type=click.Choice([r.value for r in Role]), help="What the user may do."
)
@click.option("--display-name", default="", help="Name shown in the console.")
@click.option("--extension", default=None, help="Interviewer's phone extension (digits).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@data_dir_option
def user_create(
    username: str,
    role: str,
    display_name: str,
    extension: str | None,
    password_stdin: bool,
    data_dir: Path | None,
) -> None:
    """Create a user; prints the new user's id."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = click.prompt("密码 / Password", hide_input=True, confirmation_prompt=True)
    else:
        raise CliError(
            "没有终端可以输入密码：请用 --password-stdin 从管道传入 / "
            "no terminal to ask for the password: pipe it in with --password-stdin"
        )
    settings = load_settings(data_dir)
    try:
        with cli_session(settings) as session:
            created = create_user(
                session,
                username=username,
                role=role,
                password=password,
                settings=settings,
                actor=cli_actor(),
                display_name=display_name,
                extension=extension,
            )
            user_id = created.id
    except AppError as exc:
        raise CliError(str(exc.detail)) from None
    click.echo(f"已创建用户 {user_id} {username}（{role}）/ user {user_id} {username} ({role}) created")
