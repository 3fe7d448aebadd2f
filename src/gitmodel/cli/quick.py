"""`git model status` and `git model push` with nothing to push, without click.

Importing click and the command table costs ~20 ms of CPU, a fifth of a status of 10,000
files and more of a push that has nothing to do; the plain forms of these two commands
(status with no option but --json or -q, push with no argument) are answered here, with
the same checks, output and exit status as through cli/main.py. A push that has something
to do, or any other form, goes on to click (`quick` returns None).
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from gitmodel.cli.errors import guarded

if TYPE_CHECKING:  # annotations only
    from gitmodel.commands.status import Status
    from gitmodel.git.repo import Repo

STATUS_FORMS = {(): "text", ("--json",): "json", ("-q",): "quiet", ("--quiet",): "quiet"}


def quick(args: list[str]) -> int | None:
    """The exit status of `git-model ARGS` when answered here; None: for click."""
    if args[:1] == ["status"] and tuple(args[1:]) in STATUS_FORMS:
        return guarded(lambda: _status(STATUS_FORMS[tuple(args[1:])]))
    if args == ["push"]:
        answer: list[int | None] = [None]

        def push() -> int | None:
            answer[0] = _push()
            return answer[0]
        status = guarded(push)
        return None if answer[0] is None and status == 0 else status
    return None


def _repo() -> Repo:
    from gitmodel.git.repo import Repo
    repo = Repo.discover()
    startup_checks(repo)
    return repo


def startup_checks(repo: Repo) -> None:
    """What every command but the filter's own does first (cli/main.py too): one line on
    stderr when .gitattributes routes files to git-model but the filter is not set (a clone
    without `git model install`: git would store model files raw), and the hooks put in a
    repository that has none while the filter is configured (as git-lfs)."""
    from gitmodel.commands.hooks import any_ours
    from gitmodel.errors import UserError
    from gitmodel.git.raw import filter_missing
    try:
        line = filter_missing(repo)
        if line:
            print(line, file=sys.stderr)
        if any_ours(repo):  # the common case, without importing install (and the store): ~20 ms
            return
        from gitmodel.commands.install import ensure_hooks
        ensure_hooks(repo)
    except UserError:
        return  # the command itself says what is wrong, if it matters to it


def _status(form: str) -> int:
    from gitmodel.commands.status import status
    return render_status(status(_repo()), form)


def render_status(result: Status, form: str) -> int:
    """Print a status as `form` says (text, json, quiet); the exit status (quiet: 1 when
    there is something to do). The text in one write: a line each was 65 ms of 10,000."""
    if form == "json":
        import json
        print(json.dumps(result.as_json()))
    elif form == "text":
        sys.stdout.write("\n".join(result.lines()) + "\n")
    return 1 if form == "quiet" and not result.clean else 0


def _push() -> int | None:
    """The push of HEAD when this clone's record answers it (nothing to upload), else None."""
    from gitmodel.commands.pushed import head_pushed
    from gitmodel.errors import UserError
    from gitmodel.git.repo import Repo
    from gitmodel.transfer.recent import up_to_date_line
    repo = Repo.discover()
    try:
        known = head_pushed(repo)
    except UserError:
        return None  # sync says what is wrong, as ever
    if known is None:
        return None
    startup_checks(repo)
    print(up_to_date_line("pushed", *known))
    return 0
