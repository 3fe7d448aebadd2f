"""`git model prune`: the click wrapper (the work is in commands/prune.py)."""
from __future__ import annotations

import json

import click


@click.command()
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
@click.option("--recent-days", type=click.IntRange(min=0), default=None,
              help="Keep the versions of commits made in the last N days (default 10).")
@click.option("--grace", type=click.FloatRange(min=0), default=None,
              help="Keep objects written in the last SECONDS (default 3600).")
@click.option("--json", "as_json", is_flag=True, help="Print what was found as one JSON object.")
def prune(dry_run: bool, recent_days: int | None, grace: float | None, as_json: bool) -> None:
    """Delete old model versions from the local cache that the model remote holds.

    Kept: HEAD, the index, and every commit of the last N days on any branch or tag;
    and anything the default model remote does not have (checked on the remote).
    """
    from gitmodel.commands import gc
    from gitmodel.commands import prune as mod
    from gitmodel.git.repo import Repo
    from gitmodel.units import human, plural
    repo = Repo.discover()
    grace = gc.DEFAULT_GRACE if grace is None else grace
    days = mod.DEFAULT_RECENT_DAYS if recent_days is None else recent_days
    planned = mod.plan(repo, days, grace)
    freed = 0 if dry_run else mod.prune(repo, planned, grace)
    if as_json:
        click.echo(json.dumps({**planned.as_json(), "freed": freed, "dry_run": dry_run}))
        return
    old = plural(len(planned.prunable), "old version")
    if dry_run:
        click.echo(f"would prune {old} held by {planned.remote!r}: "
                   f"{human(planned.garbage.bytes)} in {plural(len(planned.garbage.files), 'file')}")
    else:
        click.echo(f"pruned {old} held by {planned.remote!r}: freed {human(freed)}")
    click.echo(f"kept {planned.recent} recent" + (f"; {planned.unreferenced} in no commit are left "
                                                  "to `git model gc`" if planned.unreferenced else ""))
    if planned.not_on_remote:
        click.echo(f"kept {plural(len(planned.not_on_remote), 'old version')} that "
                   f"{planned.remote!r} does not have (git model push --all, then prune again)")
