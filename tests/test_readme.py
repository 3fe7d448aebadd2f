"""README renders as intended (checked with a CommonMark parser) and its command tables name
commands and options that exist."""
from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from gitmodel.cli.main import main

markdown_it = pytest.importorskip("markdown_it")
README = Path(__file__).resolve().parents[1] / "README.md"


def _tokens() -> list:
    return markdown_it.MarkdownIt("commonmark").enable("table").parse(README.read_text())


def _command_cells() -> list[str]:
    """The first cell of every table row whose text starts with `git model`."""
    tokens, cells, in_first = _tokens(), [], False
    for i, token in enumerate(tokens):
        if token.type == "tr_open":
            in_first = True
        elif token.type == "td_open" and in_first:
            in_first = False
            inline = tokens[i + 1]
            if inline.content.startswith("`git model"):
                cells.append(inline.content)
    return cells


def test_no_table_row_renders_as_a_paragraph() -> None:
    """A blank line inside a table ends it: the rows after it become one paragraph of `|`."""
    tokens = _tokens()
    stray = [tokens[i + 1].content[:60] for i, t in enumerate(tokens)
             if t.type == "paragraph_open" and tokens[i + 1].content.lstrip().startswith("|")]
    assert not stray, stray


def _find(group: click.Group, name: str) -> click.Command | None:
    return group.commands.get(name)


def test_command_tables_name_real_commands_and_options() -> None:
    cells = _command_cells()
    assert len(cells) >= 20, cells
    checked = 0
    for cell in cells:
        spans = re.findall(r"`([^`]+)`", cell)
        words = spans[0].split()[2:]  # after "git model"
        command = _find(main, words[0])
        assert command is not None, f"README names `git model {words[0]}`, which does not exist"
        parent: click.Group = main
        if isinstance(command, click.Group) and len(words) > 1:
            parent, command = command, _find(command, words[1])
            assert command is not None, spans[0]
        for span in [spans[0]] + spans[1:]:
            target = command if span == spans[0] else (_find(parent, span.split()[0])
                                                      or _find(main, span.split()[0]))
            assert target is not None, f"README names `{span}`, which is no command"
            known = {opt for param in target.params for opt in getattr(param, "opts", [])}
            for option in re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", span):
                assert option in known, f"README gives `{span}` an option {option} it lacks"
                checked += 1
    assert checked >= 20
