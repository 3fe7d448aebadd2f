"""README renders as intended (checked with a CommonMark parser) and its command tables name
commands and options that exist."""
from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from gitmodel.cli.main import main

markdown_it = pytest.importorskip("markdown_it")
ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _tokens(path: Path = README) -> list:
    return markdown_it.MarkdownIt("commonmark").enable("table").parse(path.read_text())


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


def _command(words: list[str]) -> tuple[click.Group, click.Command]:
    """(the group it is in, the command) that `git model WORDS...` runs."""
    command = _find(main, words[0])
    assert command is not None, f"README names `git model {words[0]}`, which does not exist"
    if isinstance(command, click.Group) and len(words) > 1:
        sub = _find(command, words[1])
        assert sub is not None, f"README names `git model {' '.join(words[:2])}`"
        return command, sub
    return main, command


def _options(command: click.Command, text: str) -> int:
    """Check that every option written in TEXT is one of COMMAND's; return how many."""
    known = {opt for param in command.params for opt in getattr(param, "opts", [])}
    options = re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", text)
    for option in options:
        assert option in known, f"README gives `{text}` an option {option} it lacks"
    return len(options)


def test_command_tables_name_real_commands_and_options() -> None:
    cells = _command_cells()
    assert len(cells) >= 20, cells
    checked = 0
    for cell in cells:
        spans = re.findall(r"`([^`]+)`", cell)
        parent, command = _command(spans[0].split()[2:])  # after "git model"
        checked += _options(command, spans[0])
        for span in spans[1:]:
            target = _find(parent, span.split()[0]) or _find(main, span.split()[0])
            assert target is not None, f"README names `{span}`, which is no command"
            checked += _options(target, span)
    assert checked >= 20


@pytest.mark.parametrize("doc", ["README.md", "docs/remotes.md"])
def test_examples_in_code_blocks_use_real_commands_and_options(doc: str) -> None:
    lines = [line.split("#", 1)[0].strip() for token in _tokens(ROOT / doc) if token.type == "fence"
             for line in token.content.splitlines()]
    examples = [line for line in lines if line.startswith("git model ")]
    assert len(examples) >= 3, examples
    for line in examples:
        _, command = _command(line.split()[2:])
        _options(command, line)
