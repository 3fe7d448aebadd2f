"""The errors every layer raises; cli/errors.py turns them into one line and an exit status.

UserError: something the user can fix (the message says what). CacheError: the local cache is
damaged or incomplete (an integrity error). The transfer layer's RemoteError is a UserError
that also says whether it is transient. Nothing here prints or exits.
"""
from __future__ import annotations


class UserError(Exception):
    """Something the user can fix; the message says what and how."""


class CacheError(Exception):
    """A cached object is missing or damaged (the store's errors derive from it), for
    the last-resort handler: commands catch it where they can name the file."""
