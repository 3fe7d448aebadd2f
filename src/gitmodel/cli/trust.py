"""`git model trust` (the work is in commands/trust.py)."""
from __future__ import annotations

import json

import click

from gitmodel.git.repo import Repo


@click.command("trust")
@click.option("--json", "as_json", is_flag=True, help="Print what was trusted as JSON.")
def trust_command(as_json: bool) -> None:
    """Let this clone run .gitmodel's stages on commit and push to its remotes.

    Read them first (`git model stages`, `git model remote list`): a changed command or URL
    needs trusting again."""
    from gitmodel.commands.trust import trust
    trusted = trust(Repo.discover())
    if as_json:
        click.echo(json.dumps([t.as_json() for t in trusted]))
    else:
        for item in trusted:
            click.echo(item.line())
