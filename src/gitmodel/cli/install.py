"""`git model install`, `uninstall` and `help`: set-up and help, git-lfs style."""
from __future__ import annotations

import click

from gitmodel.errors import UserError


def _scope(local: bool, system: bool) -> str:
    if local and system:
        raise UserError("--local and --system exclude each other: choose one")
    return "local" if local else "system" if system else "global"


@click.command()
@click.option("--local", "local", is_flag=True, help="This repository only (.git/config).")
@click.option("--system", "system", is_flag=True, help="Every user of this machine (needs root).")
@click.option("--force", is_flag=True, help="Replace conflicting filter configuration.")
def install(local: bool, system: bool, force: bool) -> None:
    """Set git-model up: filter and diff driver in your global git config, hooks here.

    Run once per machine (as `git lfs install`); every later `git clone` of a
    repository that uses git-model then restores its models during the checkout.
    Run again after moving git-model (a new virtualenv): git's config names it by path.

    \b
    Example:
      git model install            # once per machine
      git model install --local    # this repository only
    """
    from gitmodel.commands.install import current_repo
    from gitmodel.commands.install import install as do_install
    done = do_install(current_repo(), _scope(local, system), force)  # type: ignore[arg-type]
    for name in done.chained:
        click.echo(f"kept your {name} hook: it now runs before git-model's")
    if done.hooks_in is not None:  # a git-lfs repository: git-model serves its filter=lfs
        from gitmodel.commands.adopt import adopt
        from gitmodel.git.repo import Repo
        adopted = adopt(Repo.discover(done.hooks_in))
        for line in adopted.lines() if adopted else []:
            click.echo(line)
    where = "in this repository" if done.scope == "local" else f"in the {done.scope} git config"
    click.echo(f"git-model installed {where}" + (" (hooks here too)" if done.hooks_in and
                                                 done.scope != "local" else ""))


@click.command()
@click.option("--local", "local", is_flag=True, help="This repository's config and hooks only.")
@click.option("--system", "system", is_flag=True, help="The machine-wide config.")
def uninstall(local: bool, system: bool) -> None:
    """Remove git-model's filter and diff config (global by default) and this repository's hooks.

    \b
    Example:
      git model uninstall --local  # stop using git-model in this repository
    """
    from gitmodel.commands.install import current_repo
    from gitmodel.commands.install import uninstall as do_uninstall
    scope = _scope(local, system)
    do_uninstall(current_repo(), scope)  # type: ignore[arg-type]
    click.echo("git-model uninstalled " +
               ("from this repository" if scope == "local" else f"from the {scope} git config"))


@click.command("help")
@click.argument("command", nargs=-1)
@click.pass_context
def help_command(ctx: click.Context, command: tuple[str, ...]) -> None:
    """Show help for git-model or one of its commands.

    \b
    Example:
      git model help push
    """
    group = ctx.parent.command if ctx.parent else ctx.command
    target: click.Command = group
    info_name = "git model"
    for name in command:
        sub = target.get_command(ctx, name) if isinstance(target, click.Group) else None
        if sub is None:
            raise UserError(f"no such command {' '.join(command)!r}: see `git model help`")
        target, info_name = sub, f"{info_name} {name}"
    with click.Context(target, info_name=info_name) as sub_ctx:
        click.echo(target.get_help(sub_ctx))
