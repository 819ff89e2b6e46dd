"""The shape of the CLI: every command is "parse, call the library, render" (a short body), and every
command's help shows an example. Commands are found through the typer app, so a new one cannot slip by."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import typer
import typer.main

from reclaim.cli import app

MAX_BODY_LINES = 20


def _commands(typer_app: typer.Typer, prefix: str = "") -> Iterator[tuple[str, Callable[..., Any]]]:
    for info in typer_app.registered_commands:
        assert info.callback is not None
        yield f"{prefix}{info.name or info.callback.__name__.replace('_', '-')}", info.callback
    for group in typer_app.registered_groups:
        assert group.typer_instance is not None
        yield from _commands(group.typer_instance, f"{prefix}{group.name} ")


COMMANDS = sorted(_commands(app), key=lambda c: c[0])


def test_commands_are_found() -> None:
    names = {name for name, _ in COMMANDS}
    assert {"init", "scan", "person add", "takedown stats", "hashes check", "case assign"} <= names
    assert len(COMMANDS) >= 30


@pytest.mark.parametrize(("name", "fn"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_command_body_is_short(name: str, fn: Callable[..., Any]) -> None:
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    func = tree.body[0]
    assert isinstance(func, ast.FunctionDef)
    body = func.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring is the help, not the body
    assert body, f"{name}: empty command"
    assert body[-1].end_lineno is not None
    lines = body[-1].end_lineno - body[0].lineno + 1
    assert lines <= MAX_BODY_LINES, (
        f"'reclaim {name}' ({fn.__module__}.{fn.__name__}) has a body of {lines} lines: keep commands to "
        "parse, call the library, render; move logic into the library and rendering into a function"
    )


def _click_commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield " ".join(path), command
        return
    for name, sub in subcommands.items():
        yield from _click_commands(sub, (*path, name))


CLICK_COMMANDS = sorted(_click_commands(typer.main.get_command(app)), key=lambda c: c[0])


@pytest.mark.parametrize(("name", "command"), CLICK_COMMANDS, ids=[n for n, _ in CLICK_COMMANDS])
def test_command_help_has_an_example(name: str, command: Any) -> None:
    help_text = command.help or ""
    assert "\nExample:\n" in help_text, f"'reclaim {name}' needs an 'Example:' block in its help"
    example = help_text.split("\nExample:\n", 1)[1].strip()
    assert example.startswith("reclaim ") or " reclaim " in example, example
