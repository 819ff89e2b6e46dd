"""What every command shares: the workspace it opens, the error → exit-code mapping, the ``--json`` option
and the one output helper.

Exit codes: 0 ok, 2 user error, 3 dependency failure (``ReclaimError.exit_code``), 1 for a verification
that found problems. A ``ReclaimError`` raised anywhere under a command becomes one ``error: ...`` line on
stderr and its exit code (:class:`ReportingGroup`), so command bodies never catch it themselves.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from reclaim.errors import ReclaimError, UserError
from reclaim.text import shown

if TYPE_CHECKING:  # imported by the commands that open one: SQLAlchemy, the models, the keys (≈ 0.4 s)
    from sqlalchemy.orm import Session

    from reclaim.workspace import Workspace

T = TypeVar("T")


class SafeConsole(Console):
    """A console that prints every string as data: no rich markup or emoji codes are read from it, and its
    control characters and bidi overrides are shown, not obeyed (:func:`reclaim.text.shown`). Chat names,
    captions and file names reach the terminal through tables and messages; an ESC in a chat name must not
    move the cursor or recolour the screen. Styled output is built from ``rich.text.Text`` parts."""

    def render_str(self, text: str, **options: Any) -> Text:
        options["markup"] = False
        options["emoji"] = False
        return super().render_str(shown(text, multiline=True), **options)


err_console = SafeConsole(stderr=True)
out_console = SafeConsole()

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
"""The ``--json`` flag every command takes: print the result as JSON (see :func:`emit`)."""


class CliState:
    """The global options given before the command (set by the app's callback)."""

    workspace: Path | None = None


state = CliState()


class ReportingGroup(TyperGroup):
    """The root command group: reports a ``ReclaimError`` from any command as one line and its exit code."""

    def invoke(self, ctx: Any) -> Any:  # a typer (vendored click) Context; typer exports no name for it
        try:
            return super().invoke(ctx)
        except ReclaimError as exc:
            warn(f"error: {exc}")
            raise typer.Exit(code=exc.exit_code) from None


def workspace_dir() -> Path:
    """``--workspace``, else ``$RECLAIM_WORKSPACE``, else the user data directory."""
    from reclaim.workspace import default_workspace_dir

    return state.workspace if state.workspace is not None else default_workspace_dir()


def secret(env: str, *, what: str, prompt: str, confirm: bool = False) -> str:
    """A secret (``what``) from the environment variable ``env``, else asked for, hidden, in a terminal
    (twice with ``confirm``)."""
    value = os.environ.get(env)
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise UserError(f"no {what}: set {env} or run in a terminal to be asked")
    asked: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return asked


def passphrase(*, confirm: bool = False) -> str:
    """The workspace passphrase: ``$RECLAIM_PASSPHRASE``, else asked."""
    return secret("RECLAIM_PASSPHRASE", what="passphrase", prompt="Workspace passphrase", confirm=confirm)


def database_url() -> str | None:
    """RECLAIM_DATABASE_URL, when set: the PostgreSQL database of a team server's workspace."""
    return os.environ.get("RECLAIM_DATABASE_URL") or None


@contextmanager
def open_workspace() -> Iterator[Workspace]:
    """The workspace of this invocation, open (and closed again at the end)."""
    from reclaim.workspace import Workspace

    ws = Workspace.open(workspace_dir(), passphrase(), database_url=database_url())
    try:
        yield ws
    finally:
        ws.close()


@contextmanager
def open_session() -> Iterator[Session]:
    """A database session of this invocation's workspace, for commands that need nothing else."""
    with open_workspace() as ws, ws.session() as session:
        yield session


def print_json(obj: Any) -> None:
    """``obj`` as indented JSON on stdout (UTF-8 as is; dates and paths as strings)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")


def emit(result: T, as_json: bool, render: Callable[[T], None]) -> None:
    """Print ``result`` as JSON with ``--json``, else hand it to ``render`` for people."""
    if as_json:
        print_json(result)
    else:
        render(result)


def warn(text: str) -> None:
    """Print ``text`` on stderr as data: file names and chat names in it cannot drive the terminal."""
    typer.echo(shown(text, multiline=True), err=True)


def say(text: str) -> None:
    """Print ``text`` for people on stdout, without rich markup (names and paths may hold brackets)."""
    out_console.print(text, markup=False)
