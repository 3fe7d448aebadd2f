"""Errors a user can act on: printed as one line, never as a traceback."""
from __future__ import annotations

import errno


class UserError(Exception):
    """Something the user can fix; the message says what and how."""


class CacheError(Exception):
    """A cached object is missing or damaged (the store's errors derive from it), for
    the last-resort handler: commands catch it where they can name the file."""


def os_error_line(exc: OSError) -> str:
    """One line for a system error that reached the top: what failed, where, and what to do."""
    where = f" ({exc.filename})" if exc.filename else ""
    text = f"{exc.strerror or type(exc).__name__}{where}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"{text}: free some space, then run the command again (nothing written was left half-done)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{text}: this needs write access there"
    return text


def cache_error_line(exc: CacheError) -> str:
    return f"the model cache is damaged or incomplete ({exc}): run `git model fsck --repair`"
