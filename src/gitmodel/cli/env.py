"""`git model env`: versions, cache, filter and hooks (and their levels), remote, settings."""
from __future__ import annotations

import json

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def env(as_json: bool) -> None:
    """Show how git-model is set up: versions, cache, filter and hooks, remote, settings.

    \b
    Example:
      git model env
      git model env --json | jq .repository.cache
    """
    from gitmodel.commands.env import environment
    from gitmodel.commands.install import current_repo
    from gitmodel.units import human
    info = environment(current_repo())
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    for name, version in info["versions"].items():
        click.echo(f"{name} {version or 'not installed'}" +
                   (f" ({info['executable']})" if name == "git-model" else ""))
    filters = info["filter"]
    if not filters:
        click.echo("filter: not installed (run `git model install`)")
    labels = {"filter.model.process": "filter", "diff.model.command": "diff driver"}
    for entry in filters:  # the whole set with --json
        if entry["key"] in labels:
            click.echo(f"{labels[entry['key']]}: {entry['value']} ({entry['scope']})")
    for entry in info["settings"]:
        click.echo(f"{entry['key']}={entry['value']} ({entry['scope']})")
    repo = info["repository"]
    if repo is None:
        click.echo("repository: none here")
        return
    cache = repo["cache"]
    click.echo(f"cache: {cache['path']} ({human(cache['bytes'])} in {cache['files']} files)")
    click.echo("hooks: " + ", ".join(f"{name} {state}" for name, state in repo["hooks"].items())
               + f" ({repo['hooks_dir']})")
    remote = repo["remote"]
    if remote is None:
        click.echo("remote: none (run `git model remote add NAME URL`)")
    else:
        override = " (local override)" if remote["local_override"] else ""
        click.echo(f"remote: {remote['name']} {remote['url']}{override}")
    if repo["lfs_patterns"]:
        click.echo("git-lfs also tracks: " + " ".join(repo["lfs_patterns"]))
