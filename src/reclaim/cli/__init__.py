"""The command line: a thin layer over the library. Exit codes: 0 ok, 2 user error, 3 dependency failure.

One module per command group; each command parses its options, calls the library and renders the result
(:func:`reclaim.cli.common.emit`). Commands import the library inside their bodies, so that
``reclaim --help`` and every command's help start without loading the models, the image stack or the
server.
"""

# ruff: noqa: E402  (reclaim.cli.early runs before the other imports on purpose)
from __future__ import annotations

import sys

from reclaim.cli import early

# before the imports below: ``reclaim scan`` starts its fork server now (see reclaim.cli.early)
early.start(sys.argv)

from pathlib import Path
from typing import Annotated

import typer

from reclaim.cli import capture, custody, demo, evidence, hashes, person, scan, spread, takedown, team, trust
from reclaim.cli.common import (
    JsonOption,
    ReportingGroup,
    database_url,
    emit,
    passphrase,
    say,
    state,
    workspace_dir,
)

app = typer.Typer(
    name="reclaim",
    help="Find, prove, preserve and take down non-consensual deepfake imagery. Local-first: nothing "
    "leaves this machine unless you ask.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    cls=ReportingGroup,
)


@app.callback()
def global_options(
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Workspace directory (default: $RECLAIM_WORKSPACE, else the user data directory).",
            envvar=None,
        ),
    ] = None,
) -> None:
    """reclaim — the global options come before the command.

    Example:
        reclaim --workspace ./case-07 init
    """
    state.workspace = workspace


@app.command()
def init(as_json: JsonOption = False) -> None:
    """Create a new workspace: an SQLite database (or the PostgreSQL database in RECLAIM_DATABASE_URL)
    and an encrypted vault.

    The passphrase (RECLAIM_PASSPHRASE, or asked twice) wraps the key that encrypts media and face
    templates. It cannot be recovered: keep it safe.

    Example:
        RECLAIM_PASSPHRASE='correct horse' reclaim --workspace ./case-07 init
    """
    from reclaim.workspace import Workspace

    ws = Workspace.create(workspace_dir(), passphrase(confirm=True), database_url=database_url())
    ws.close()
    emit({"workspace": str(ws.root)}, as_json, lambda r: say(f"Workspace created at {r['workspace']}"))


# The order of registration is the order of `reclaim --help`.
for command in (
    scan.scan,
    scan.finish_faces,
    scan.matches,
    scan.review,
    scan.explain,
    demo.demo,
    custody.timestamp,
    capture.capture,
    spread.network,
    team.serve,
):
    app.command()(command)
app.add_typer(person.person_app, name="person")
app.add_typer(trust.trust_app, name="trust")
app.add_typer(custody.custody_app, name="custody")
app.add_typer(evidence.evidence_app, name="evidence")
app.add_typer(team.user_app, name="user")
app.add_typer(team.case_app, name="case")
app.add_typer(hashes.hashes_app, name="hashes")
app.add_typer(takedown.takedown_app, name="takedown")


def main() -> None:
    """The ``reclaim`` console script."""
    app()
