"""`git model migrate import|export|info` (the work is in commands/migrate.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import click

from gitmodel.units import human

_PATTERNS = "Comma-separated patterns (gitignore rules); repeatable."
if TYPE_CHECKING:
    from gitmodel.git.repo import Repo


def _repo(heavy: bool) -> Repo:
    """The repository (allocator tuned first when model bytes will move), as cli/main does it."""
    from gitmodel.git.repo import Repo
    if heavy:
        from gitmodel.store import alloc
        alloc.tune()
    return Repo.discover()


def _selection_options(fn: Callable[..., None]) -> Callable[..., None]:
    fn = click.argument("refs", nargs=-1, metavar="[REF|^REF|A..B]...")(fn)
    fn = click.option("--everything", is_flag=True,
                      help="Every local and remote branch and tag (default: the current branch, "
                           "without commits already on a remote).")(fn)
    fn = click.option("-X", "--exclude", multiple=True, metavar="PATTERNS", help=_PATTERNS)(fn)
    fn = click.option("-I", "--include", multiple=True, metavar="PATTERNS", help=_PATTERNS)(fn)
    return fn


@click.group()
def migrate() -> None:
    """Rewrite history: model files committed raw become pointers (import), or back (export)."""


@migrate.command("info")
@_selection_options
@click.option("--above", default="0", metavar="SIZE", help="Count only files of at least SIZE (1mb, 500KiB).")
@click.option("--top", default=5, type=click.IntRange(min=1), help="How many file types to list.")
def info(include: tuple[str, ...], exclude: tuple[str, ...], everything: bool, refs: tuple[str, ...],
         above: str, top: int) -> None:
    """Raw files in history by type: size, how many, share."""
    from gitmodel.commands import migrate as mod
    repo = _repo(heavy=False)
    selection = mod.Selection(mod.split_patterns(include), mod.split_patterns(exclude), mod.parse_size(above))
    lines = mod.info(repo, mod.revisions(repo, everything, list(refs)), selection, top)
    for line in lines or ["no raw files to migrate in this history"]:
        click.echo(line)


@migrate.command("import")
@_selection_options
@click.option("--above", default="0", metavar="SIZE", help="Convert only files of at least SIZE.")
@click.option("--dry-run", is_flag=True, help="List the blobs that would be converted; change nothing.")
def import_(include: tuple[str, ...], exclude: tuple[str, ...], everything: bool,
            refs: tuple[str, ...], above: str, dry_run: bool) -> None:
    """Rewrite history so that the selected files are pointers, their content in the cache."""
    _run(include, exclude, everything, refs, above, dry_run, to_pointers=True)


@migrate.command("export")
@_selection_options
@click.option("--dry-run", is_flag=True, help="List the pointers that would be replaced; change nothing.")
def export(include: tuple[str, ...], exclude: tuple[str, ...], everything: bool,
           refs: tuple[str, ...], dry_run: bool) -> None:
    """Rewrite history so that the selected files hold their content again (Git, not the cache)."""
    if not include:
        raise click.UsageError("migrate export needs --include: the patterns to put back in Git")
    _run(include, exclude, everything, refs, "0", dry_run, to_pointers=False)


def _run(include: tuple[str, ...], exclude: tuple[str, ...], everything: bool, refs: tuple[str, ...],
         above: str, dry_run: bool, to_pointers: bool) -> None:
    from gitmodel.commands import migrate as mod
    from gitmodel.errors import UserError
    from gitmodel.git import attributes
    repo = _repo(heavy=True)
    patterns = mod.split_patterns(include) or attributes.patterns(repo.top)
    if not patterns:
        raise UserError("nothing selected: give --include='*.safetensors' (or track patterns first)")
    selection = mod.Selection(patterns, mod.split_patterns(exclude), mod.parse_size(above))
    revs = mod.revisions(repo, everything, list(refs))
    if dry_run:
        found = mod.scan(repo, revs, selection, pointers=not to_pointers)
        for item in found:
            click.echo(f"would convert {item.path} (blob {item.blob[:12]}, {human(item.size)})")
        click.echo(f"{len(found)} blob(s), {human(sum(f.size for f in found))}: nothing changed (dry run)")
        return
    done = mod.rewrite(repo, revs, selection, to_pointers)
    what = "to pointers, content in the cache" if to_pointers else "back into Git"
    click.echo(f"rewrote {done.commits} commit(s) of {', '.join(sorted(done.refs)) or 'no ref'}; "
               f"{done.converted} blob(s) ({human(done.bytes)}) {what}")
    if done.commits:
        click.echo("the old commits stay in the reflog until `git reflog expire --expire-unreachable=now "
                   "--all && git gc --prune=now`; rewritten branches need `git push --force`"
                   + (" and `git model push --all`" if to_pointers else ""))
