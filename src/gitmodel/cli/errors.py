"""How a failure reaches the user: one line with what to do, and an exit status a script can
branch on (README, "Exit codes"). The layers below raise typed errors without advice on what
to type; the advice is added here. No click import: the hook entry point uses this too.
"""
from __future__ import annotations

import errno
import sys
from typing import Callable

from gitmodel.errors import CacheError, UserError

OK = 0
ERROR = 1        # something to fix: the message says what (bad input, a remote that refuses)
USAGE = 2        # the command line itself is wrong
INTEGRITY = 3    # the local cache is damaged or incomplete: `git model fsck --repair`
RETRY = 4        # a remote failed in a way that may pass: retried already, try again later
INTERRUPTED = 130
BROKEN_PIPE = 141


def guarded(work: Callable[[], int | None]) -> int:
    """Run WORK; any error it raises becomes one line on stderr and its exit status."""
    try:
        return work() or OK
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:
        return BROKEN_PIPE
    except (UserError, CacheError, OSError) as exc:
        line, status = describe(exc)
        print(f"git-model: error: {line}", file=sys.stderr)
        return status


def describe(exc: UserError | CacheError | OSError) -> tuple[str, int]:
    """The line to print for EXC and the exit status it gives."""
    if isinstance(exc, CacheError):
        return (f"the model cache is damaged or incomplete ({exc}): "
                "run `git model fsck --repair`", INTEGRITY)
    if isinstance(exc, OSError):
        return _os_error_line(exc), ERROR
    return str(exc), RETRY if getattr(exc, "transient", False) else ERROR


def _os_error_line(exc: OSError) -> str:
    """What failed, where, and what to do, for a system error that reached the top."""
    where = f" ({exc.filename})" if exc.filename else ""
    text = f"{exc.strerror or type(exc).__name__}{where}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"{text}: free some space, then run the command again (nothing written was left half-done)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{text}: this needs write access there"
    return text
