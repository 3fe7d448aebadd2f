"""Errors a user can act on: printed as one line, never as a traceback."""


class UserError(Exception):
    """Something the user can fix; the message says what and how."""
