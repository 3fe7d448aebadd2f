"""The `git-model` executable: hooks and the filter process straight to their code, everything
else to the click CLI.

Git runs `git-model hook NAME` on every commit, checkout and push. Importing
click and the command table costs about 65 ms (more on a busy machine), about
half of what the pre-commit hook adds to a commit that touches no stage, so
hooks skip it, and so does the filter process git starts for every checkout and add (it
waits for the handshake). Errors look the same either way (cli/errors.py): one line, the same exit codes.
"""
from __future__ import annotations

import sys


def main() -> None:
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "hook" and not args[1].startswith("-"):
        sys.exit(_hook(args[1], args[2:]))
    if args == ["filter-process"] or args[:1] == ["status"]:
        from gitmodel.cli.warm import delegate
        status = delegate(args)  # in a warm server's worker, when one takes it
        if status is not None:
            _exit_at_once(status)
    if args == ["filter-process"]:  # started by git for every add, checkout and re-clean
        from gitmodel.cli.errors import guarded
        from gitmodel.cli.filtering import filter_process
        _exit_at_once(guarded(filter_process))
    if args[:1] in (["status"], ["push"]):  # their plain forms without click (cli/quick.py)
        from gitmodel.cli.quick import quick
        status = quick(args)
        if status is not None:
            sys.exit(status)
    from gitmodel.cli.main import run
    run()


def _exit_at_once(code: int) -> None:
    """Exit without the interpreter's teardown of modules and objects (8-25 ms, measured),
    which git waits for at the end of every add, commit and checkout that starts a filter.
    Nothing is left to it: the filter has closed its databases and published its pack,
    and its worker threads are idle."""
    import os
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _hook(name: str, args: list[str]) -> int:
    from gitmodel.cli.errors import guarded
    from gitmodel.commands.hooks import run_hook
    from gitmodel.git.repo import Repo
    if name != "pre-commit":  # the others move model bytes (as cli's `hook` command does)
        from gitmodel.store import alloc
        alloc.tune()
    return guarded(lambda: run_hook(Repo.discover(), name, args))
