"""Man pages for `git-model` and each subcommand, rendered from the click commands.

git turns `git model --help` into `man git-model`, so the pages must exist where
`man` looks: the build (hatch_build.py) writes them into the wheel's
`share/man/man1`, which pip, a venv or pipx installs to `<prefix>/share/man/man1`;
man-db finds that from `<prefix>/bin` on PATH. One source of truth: the same text as `-h`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import click

from gitmodel import __version__

PREFIX = ("git", "model")


def _esc(text: str) -> str:
    """Text as roff: backslashes and hyphens escaped, no line read as a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line
                     for line in text.splitlines())


def _description(help_text: str) -> str:
    """click's help: paragraphs filled, a `\\b` paragraph kept verbatim (examples)."""
    out = []
    for para in help_text.strip().split("\n\n"):
        if para.lstrip().startswith("\b"):
            body = para.lstrip()[1:].strip("\n")
            out.append(".PP\n.nf\n" + _esc(body) + "\n.fi")
        else:
            out.append(".PP\n" + _esc(" ".join(line.strip() for line in para.splitlines())))
    return "\n".join(out)


def page(command: click.Command, words: list[str]) -> str:
    """The roff page of `command`, reached by `git model WORDS`."""
    name = "-".join([*PREFIX, *words])
    ctx = click.Context(command, info_name=" ".join([*PREFIX, *words]),
                        **command.context_settings)
    usage = " ".join(command.collect_usage_pieces(ctx))
    lines = [f'.TH "{name.upper()}" 1 "" "git-model {__version__}" "git-model manual"',
             ".SH NAME", f"{_esc(name)} \\- {_esc(command.get_short_help_str(200))}",
             ".SH SYNOPSIS", f".B {_esc(ctx.info_name or name)}", _esc(usage),
             ".SH DESCRIPTION", _description(command.help or "")]
    options = [p.get_help_record(ctx) for p in command.get_params(ctx) if isinstance(p, click.Option)]
    if any(options):
        lines.append(".SH OPTIONS")
        for record in options:
            if record:
                lines += [".TP", f"\\fB{_esc(record[0])}\\fR", _esc(record[1] or "")]
    if isinstance(command, click.Group):
        lines.append(".SH COMMANDS")
        for sub in _visible(command, ctx):
            lines += [".TP", f"\\fB{_esc(' '.join([*words, sub.name or '']))}\\fR",
                      _esc(sub.get_short_help_str(200)) +
                      f" See \\fB{_esc('-'.join([*PREFIX, *words, sub.name or '']))}\\fR(1)."]
    return "\n".join(lines) + "\n"


def _visible(group: click.Group, ctx: click.Context) -> list[click.Command]:
    found = (group.get_command(ctx, name) for name in group.list_commands(ctx))
    return [c for c in found if c is not None and not c.hidden]


def pages(command: click.Command, words: list[str] | None = None) -> Iterator[tuple[str, str]]:
    """(file name, roff) for `command` and every visible subcommand, depth first."""
    words = words or []
    yield "-".join([*PREFIX, *words]) + ".1", page(command, words)
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for sub in _visible(command, ctx):
            yield from pages(sub, [*words, sub.name or ""])


def write(directory: Path) -> list[Path]:
    """Write every page into `directory`; the files written."""
    from gitmodel.cli.examples import add_examples
    from gitmodel.cli.main import main
    add_examples(main)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, text in pages(main):
        path = directory / filename
        path.write_text(text)
        written.append(path)
    return written
