"""The `git-model` command line: parses arguments and calls the module that does the work.

Modules are imported inside each command so that start-up (and every filter
process git spawns) loads only what that command needs.
"""
from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gitmodel import __version__
from gitmodel.cli import filtering
from gitmodel.cli.errors import INTERRUPTED, OK, USAGE, guarded
from gitmodel.cli.prune import prune as prune_command
from gitmodel.cli.trust import trust_command
from gitmodel.errors import UserError

if TYPE_CHECKING:  # annotations only: start-up imports none of these
    from gitmodel.git.repo import Repo
    from gitmodel.transfer.engine import Stats


@functools.cache
@functools.cache
def _repo() -> Repo:
    """The repository, found once per process: the filter check and the command share it
    (and its config), two git processes fewer for every command."""
    from gitmodel.git.repo import Repo
    return Repo.discover()


def _heavy_repo() -> Repo:
    """The repository, for commands that move model bytes (allocator tuned first)."""
    from gitmodel.store import alloc
    alloc.tune()
    return _repo()


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.version_option(__version__, prog_name="git-model", message="%(prog)s %(version)s")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars (none either when stderr "
              "is not a terminal).")
@click.pass_context
def main(ctx: click.Context, quiet: bool) -> None:
    """Version model weights with Git: pointers in history, chunks in a deduplicating cache."""
    if quiet:  # the environment carries it to the hooks and filters git starts for us
        os.environ["GIT_MODEL_QUIET"] = "1"
    if ctx.invoked_subcommand is None:  # `git model` alone: the overview, as `git lfs` does
        click.echo(ctx.get_help())
    elif ctx.invoked_subcommand not in _NO_FILTER_CHECK:
        _startup_checks()


# Commands that set the filter up, or that git runs as the filter or a driver.
_NO_FILTER_CHECK = {"install", "uninstall", "filter-process", "clean", "smudge", "textconv",
                    "diff-driver", "hook", "version", "help", "env", "completion"}


def _startup_checks() -> None:
    """The filter warning and the hooks (cli/quick.py: shared with the click-free forms)."""
    from gitmodel.cli.quick import startup_checks
    try:
        repo = _repo()
    except UserError:
        return  # not in a repository: the command itself says so, if it needs one
    startup_checks(repo)


@main.command()
def version() -> None:
    """Print git-model's version (as `git model --version`)."""
    click.echo(f"git-model {__version__}")


@main.command()
@click.argument("patterns", nargs=-1)
def track(patterns: tuple[str, ...]) -> None:
    """Store files matching PATTERNS with git-model (no argument: list patterns)."""
    from gitmodel.git import attributes
    top = _repo().top
    if not patterns:
        for pattern in attributes.patterns(top):
            click.echo(pattern)
        return
    from gitmodel.commands.track import track as do_track
    for line in do_track(_repo(), list(patterns)).lines():
        click.echo(line)


@main.command()
@click.argument("patterns", nargs=-1, required=True)
def untrack(patterns: tuple[str, ...]) -> None:
    """Stop storing files matching PATTERNS with git-model."""
    from gitmodel.git import attributes
    removed = attributes.untrack(_repo().top, list(patterns))
    for pattern in patterns:
        click.echo(f"{'untracked' if pattern in removed else 'was not tracked'}: {pattern}")


_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
_QUIET = click.option("-q", "--quiet", is_flag=True,
                      help="Print nothing; exit 1 when there is something to report (for CI).")


@main.command()
@_JSON
@_QUIET
def status(as_json: bool, quiet: bool) -> None:
    """Model files changed, left as pointers, missing from the cache, or not pushed."""
    from gitmodel.cli.quick import render_status
    from gitmodel.commands.status import status as do_status
    if render_status(do_status(_repo()), "json" if as_json else "quiet" if quiet else "text"):
        sys.exit(1)


@main.command("ls-files")
@click.argument("rev", required=False)
@_JSON
def ls_files(rev: str | None, as_json: bool) -> None:
    """Model files in the index or in REV: oid, '*' cached / '-' not, path, size."""
    from gitmodel.commands.status import ls_files as do_ls
    files = do_ls(_repo(), rev)
    if as_json:
        click.echo(json.dumps([f.as_json() for f in files]))
        return
    for listed in files:
        click.echo(listed.line())


@main.command()
@click.argument("paths", nargs=-1)
def checkout(paths: tuple[str, ...]) -> None:
    """Replace pointers in the working tree by their files, where the cache has them."""
    from gitmodel.commands.checkout import materialize
    from gitmodel.units import plural
    repo = _heavy_repo()
    done, missing = materialize(repo, repo.from_cwd(paths), strict_paths=bool(paths))
    click.echo(f"restored {plural(len(done), 'file')}" if done
               else "nothing to restore: every model file is in place")
    if missing:
        raise UserError(f"{plural(len(missing), 'file')} still pointers, objects not in the cache "
                        f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}): "
                        "run `git model pull`")


@main.command()
@click.option("--repair", is_flag=True, help="Quarantine damaged objects and re-add them.")
@_JSON
def fsck(repair: bool, as_json: bool) -> None:
    """Verify every cached object; exit 1 when anything is wrong."""
    from gitmodel.commands.fsck import fsck as do_fsck
    report = do_fsck(_heavy_repo(), repair)
    if as_json:
        click.echo(json.dumps(report.as_json()))
        sys.exit(0 if report.ok else 1)
    for line in report.lines:
        click.echo(line)
    if not report.ok:
        fix = "" if repair or not report.remaining else "; run `git model fsck --repair`"
        click.echo("fsck: problems found" + fix, err=True)
        sys.exit(1)
    click.echo("fsck: all objects verified")


@main.command()
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@click.option("--grace", type=click.FloatRange(min=0), default=None,
              help="Keep objects written in the last SECONDS (default 3600).")
def gc(dry_run: bool, grace: float | None) -> None:
    """Delete cached objects that no ref, reflog, stash or index refers to."""
    from gitmodel.commands import gc as gcmod
    from gitmodel.units import human
    grace = gcmod.DEFAULT_GRACE if grace is None else grace
    repo = _repo()
    garbage, kept = gcmod.find_garbage(repo, grace)
    if dry_run:
        for path in garbage.files:
            click.echo(f"would delete {path}")
        click.echo(f"would free {human(garbage.bytes)} ({len(garbage.files)} files); {kept} kept")
        return
    freed = gcmod.collect(repo, garbage, grace)
    click.echo(f"freed {human(freed)}; {kept} objects kept")


@main.command("run")
@click.argument("names", nargs=-1)
@click.option("--force", is_flag=True, help="Run the named stages (all, if none named) even when fresh.")
def run_stages(names: tuple[str, ...], force: bool) -> None:
    """Run stale stages of .gitmodel (and what they need), staging outputs and the lock."""
    from gitmodel.pipeline.runner import StageFailed
    from gitmodel.pipeline.runner import run as do_run
    from gitmodel.pipeline.stages import load
    repo = _repo()
    declared = load(repo.top)
    try:
        ran = do_run(repo, declared, list(names), force, sys.stdout)
    except StageFailed as exc:
        click.echo(f"git-model: {exc}", err=True)
        sys.exit(exc.code)
    if ran:
        click.echo(f"ran {', '.join(ran)}; outputs and .gitmodel.lock staged")
    else:
        click.echo("all stages are fresh" if declared else _NO_STAGES)


_NO_STAGES = "no stages: declare them in .gitmodel ([stage \"NAME\"] with cmd, deps, outs)"


@main.command()
@_JSON
@_QUIET
def stages(as_json: bool, quiet: bool) -> None:
    """Each stage of .gitmodel, in run order: fresh, or stale and why; and which of its
    files changed in the working tree only (not yet staged)."""
    from gitmodel.pipeline.runner import status as stage_status
    from gitmodel.pipeline.stages import load
    repo = _repo()
    items = stage_status(repo, load(repo.top))
    if as_json:
        click.echo(json.dumps([item.as_json() for item in items]))
    elif not quiet:
        click.echo("\n".join(item.line() for item in items) if items else _NO_STAGES)
    if quiet and any(item.stale or item.unstaged for item in items):
        sys.exit(1)


@main.command()
@click.argument("path", required=False)
@click.option("-n", "--max-count", type=click.IntRange(min=1), default=None,
              help="Show at most N commits.")
@_JSON
def log(path: str | None, max_count: int | None, as_json: bool) -> None:
    """Commits that changed a model or metrics: sha, subject, model oid and size, metrics."""
    from gitmodel.pipeline.metrics import history, log_lines
    entries = history(_repo(), path, max_count)
    if as_json:
        click.echo(json.dumps([entry.as_json() for entry in entries]))
        return
    for line in log_lines(entries):
        click.echo(line)


@main.command()
@click.argument("revs", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def metrics(revs: tuple[str, ...], as_json: bool) -> None:
    """Metrics of REVs side by side (default: working tree); `metrics diff [A] [B]` compares.

    `diff` compares A (default HEAD) with B (default the working tree).
    """
    from gitmodel.pipeline import metrics as mod
    repo = _repo()
    if revs and revs[0] == "diff":
        if len(revs) > 3:
            raise click.UsageError("metrics diff takes at most two revisions: A and B")
        a = revs[1] if len(revs) > 1 else "HEAD"
        lines = mod.diff(repo, a, revs[2] if len(revs) > 2 else None, as_json)
    else:
        lines = mod.show(repo, list(revs), as_json)
    for line in lines:
        click.echo(line)


@main.command()
@click.argument("metrics", nargs=-1, required=True, metavar="METRIC...")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Image file to write (default: a new file in the temporary directory).")
@click.option("--log", "log_scale", is_flag=True, help="Logarithmic y axis.")
def plot(metrics: tuple[str, ...], out: Path | None, log_scale: bool) -> None:
    """Plot METRICs across the commits that recorded them (needs git-model[plot])."""
    import tempfile

    from gitmodel.pipeline.metrics import plot as do_plot
    repo = _repo()
    made = out is None
    if out is None:  # never into the working tree, where it would show up in `git status`
        handle, name = tempfile.mkstemp(prefix="git-model-plot-", suffix=".png")
        os.close(handle)
        out = Path(name)
    try:
        points = do_plot(repo, list(metrics), out, log_scale)
    except BaseException:
        if made:
            out.unlink(missing_ok=True)
        raise
    click.echo(f"wrote {out} ({points} commits)")


@main.command()
@click.argument("spec", metavar="[REV:]PATH")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def show(spec: str, as_json: bool) -> None:
    """Tensors, parameters, metadata and storage of one model version.

    PATH alone is the working tree file; REV:PATH (path from the top) a commit's,
    :PATH the index's.
    """
    from gitmodel.commands.show import show as do_show
    shown = do_show(_repo(), spec)
    try:
        if as_json:
            click.echo(json.dumps(shown.as_json()))
        else:
            for line in shown.lines():
                click.echo(line)
    finally:
        shown.model.close()


@main.command()
@click.argument("args", nargs=-1, metavar="[REV_A [REV_B]] [-- PATH...]")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per file.")
def diff(args: tuple[str, ...], as_json: bool) -> None:
    """What changed inside model files, tensor by tensor.

    No REV: index vs working tree; one: REV vs working tree; two: REV_A vs REV_B.
    """
    from gitmodel.commands.diff import diff as do_diff
    for file_diff in do_diff(_repo(), args):
        if as_json:
            click.echo(json.dumps(file_diff.as_json()))
        else:
            for line in file_diff.lines():
                click.echo(line)


@main.command(hidden=True)
@click.argument("path", type=click.Path(path_type=Path))
def textconv(path: Path) -> None:
    """diff.model.textconv: one version as a listing for git's own line diff."""
    from gitmodel.commands.diff import textconv as do_textconv
    for line in do_textconv(path):
        click.echo(line)


@main.command("diff-driver", hidden=True)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def diff_driver(args: tuple[str, ...]) -> None:
    """diff.model.command: the tensor-level diff `git diff` prints for a model file."""
    from gitmodel.commands.diff import external_diff
    for line in external_diff(args):
        click.echo(line)


@main.group()
def remote() -> None:
    """Shared model remotes, kept in .gitmodel (commit it so clones know them)."""


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--check", is_flag=True, help="Connect first: refuse a remote that cannot be reached.")
def remote_add(name: str, url: str, check: bool) -> None:
    """Add remote NAME at URL (a path, s3://bucket/prefix, ssh://host/path, https://…/info/lfs)."""
    from gitmodel.transfer import connect, remotes
    repo = _repo()
    if check:
        connect.open_backend(repo.top, remotes.Remote(name, url)).require_root(connect=True)
    made_default = remotes.add(repo, name, url)
    click.echo(f"added model remote {name}" + (" (the default)" if made_default else ""))


@remote.command("remove")
@click.argument("name")
def remote_remove(name: str) -> None:
    """Remove remote NAME from .gitmodel."""
    from gitmodel.transfer import remotes
    remotes.remove(_repo(), name)
    click.echo(f"removed model remote {name}")


@remote.command("list")
def remote_list() -> None:
    """Remotes, the default marked with '*'."""
    from gitmodel.transfer import remotes
    repo = _repo()
    default = remotes.default_name(repo)
    for item in remotes.list_remotes(repo):
        click.echo(f"{'*' if item.name == default else ' '} {item.name}\t{item.display}")


@remote.command("set-default")
@click.argument("name")
def remote_set_default(name: str) -> None:
    """Make NAME the remote that push, fetch, pull and checkout use."""
    from gitmodel.transfer import remotes
    remotes.set_default(_repo(), name)
    click.echo(f"default model remote: {name}")


def _echo_transfer(verb: str, name: str, stats: Stats, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"remote": name, **stats.as_json()}))
    else:
        click.echo(stats.summary(verb, name))


@main.command()
@click.option("--all", "everything", is_flag=True, help="Every object any ref or reflog reaches.")
@click.option("--verify", is_flag=True,
              help="Also check every chunk the remote should hold; upload what is missing.")
@click.option("--dry-run", is_flag=True, help="Only count what would be uploaded.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object.")
@click.argument("args", nargs=-1, metavar="[REMOTE] [REV]...")
def push(everything: bool, verify: bool, dry_run: bool, as_json: bool, args: tuple[str, ...]) -> None:
    """Upload the objects of REVs (default HEAD) that the remote lacks."""
    from gitmodel.commands.sync import push as do_push
    name, stats = do_push(_heavy_repo(), args, everything, verify, dry_run)
    _echo_transfer("would push" if dry_run else "pushed", name, stats, as_json)


_INCLUDE = click.option("-I", "--include", "include", multiple=True, metavar="GLOB",
                        help="Only paths matching GLOB (repeatable).")
_EXCLUDE = click.option("-X", "--exclude", "exclude", multiple=True, metavar="GLOB",
                        help="Not paths matching GLOB (repeatable).")


@main.command()
@_INCLUDE
@_EXCLUDE
@click.option("--all", "everything", is_flag=True, help="Every object any ref or reflog reaches.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object.")
@click.argument("args", nargs=-1, metavar="[REMOTE] [REV]...")
def fetch(include: tuple[str, ...], exclude: tuple[str, ...], everything: bool, as_json: bool,
          args: tuple[str, ...]) -> None:
    """Download and verify the objects of REVs (default HEAD) into the cache."""
    from gitmodel.commands.sync import fetch as do_fetch
    name, stats = do_fetch(_heavy_repo(), args, include, exclude, everything)
    _echo_transfer("fetched", name, stats, as_json)


@main.command()
@_INCLUDE
@_EXCLUDE
@click.argument("name", required=False, metavar="[REMOTE]")
def pull(include: tuple[str, ...], exclude: tuple[str, ...], name: str | None) -> None:
    """Fetch the checked-out revision's objects and write the model files."""
    from gitmodel.commands.sync import pull as do_pull
    from gitmodel.units import plural
    remote_name, stats, done, missing = do_pull(_heavy_repo(), name, include, exclude)
    click.echo(stats.summary("fetched", remote_name))
    if done:
        click.echo(f"restored {plural(len(done), 'file')}")
    if missing:
        raise UserError(f"{plural(len(missing), 'file')} still pointers: {', '.join(missing[:3])}")


@main.command()
@click.argument("url")
@click.argument("rev")
@click.argument("path")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the file (default: PATH's base name, here).")
@click.option("--remote", metavar="NAME|URL",
              help="The model remote: a name from the repository's .gitmodel, or a URL.")
def get(url: str, rev: str, path: str, out: Path | None, remote: str | None) -> None:
    """Download PATH at REV of the git repository URL, verified, without a clone."""
    from gitmodel.commands.sync import get as do_get
    target, stats = do_get(url, rev, path, out, remote)
    click.echo(f"wrote {target} ({stats.summary('fetched', 'remote')})", err=True)


@main.command("filter-process", hidden=True)
def filter_process() -> None:
    """Git's long-running filter process (filter.model.process)."""
    filtering.filter_process()  # entry.py runs it without click; this is `git model filter-process`


@main.command(hidden=True)
@click.argument("path", required=False, default="")
def clean(path: str) -> None:
    """One-shot clean filter: content on stdin, pointer on stdout."""
    from gitmodel.filter.process import clean_once
    clean_once(filtering.filter_repo(), path)


@main.command(hidden=True)
@click.argument("path", required=False, default="")
def smudge(path: str) -> None:
    """One-shot smudge filter: pointer on stdin, content on stdout."""
    from gitmodel.filter.process import smudge_once
    smudge_once(filtering.filter_repo(), path, filtering.on_demand)


@main.command(hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook(name: str, args: tuple[str, ...]) -> None:
    """Run git-model's part of a git hook (called by the shims in hooks/)."""
    from gitmodel.commands.hooks import run_hook
    sys.exit(run_hook(_heavy_repo(), name, list(args)))


main.add_command(prune_command)
main.add_command(trust_command)
from gitmodel.cli.migrate import migrate  # noqa: E402 (click only; the work is imported when run)

main.add_command(migrate)
from gitmodel.cli.install import help_command, install, uninstall  # noqa: E402

main.add_command(install)
main.add_command(uninstall)
main.add_command(help_command)
from gitmodel.cli.env import env  # noqa: E402

main.add_command(env)
from gitmodel.cli.completion import completion  # noqa: E402

main.add_command(completion)


def run() -> None:
    """Console entry point: errors become one line on stderr and a documented exit status."""
    from gitmodel.cli.examples import add_examples
    add_examples(main)  # here, not at import: every command is registered by now
    sys.exit(guarded(_main))


def _main() -> int:
    try:
        main.main(standalone_mode=False)
    except click.exceptions.Abort:
        return INTERRUPTED
    except click.UsageError as exc:
        print(f"git-model: {exc.format_message()} (see `git model --help`)", file=sys.stderr)
        return USAGE
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return OK
