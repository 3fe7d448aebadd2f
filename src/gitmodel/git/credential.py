"""`git credential fill/approve/reject`: every credential helper users already have
(store, cache, osxkeychain, manager, libsecret) answers for LFS remotes too.

git may prompt on the terminal for a missing user name or password (as `git push`
does); with GIT_TERMINAL_PROMPT=0, or without a terminal, `fill` fails and the
caller reports the 401 it got.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from gitmodel.git.repo import call

_FIELDS = ("protocol", "host", "path", "username", "password", "authtype", "credential")


def describe(url: str) -> dict[str, str]:
    """The fields git's credential protocol uses to name `url` (no password)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    fields = {"protocol": parts.scheme, "host": host, "path": parts.path.lstrip("/")}
    if parts.username:
        fields["username"] = parts.username
    return fields


def _encode(fields: dict[str, str]) -> bytes:
    lines = []
    for key, value in fields.items():
        if "\n" in value or "\0" in value:
            raise ValueError(f"credential field {key} holds a newline")
        lines.append(f"{key}={value}\n")
    return ("".join(lines) + "\n").encode()


def fill(fields: dict[str, str], cwd: Path | None = None) -> dict[str, str] | None:
    """What the helpers (or a prompt) give for `fields`; None when git got nothing."""
    proc = call(["credential", "fill"], cwd=cwd, input=_encode(fields))
    if proc.returncode != 0:
        return None
    answer = {}
    for line in proc.stdout.decode(errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if sep and key in _FIELDS:
            answer[key] = value
    return answer if answer.get("password") or answer.get("credential") else None


def approve(fields: dict[str, str], cwd: Path | None = None) -> None:
    """Tell the helpers these credentials worked (a `store` helper saves them)."""
    call(["credential", "approve"], cwd=cwd, input=_encode(fields))


def reject(fields: dict[str, str], cwd: Path | None = None) -> None:
    """Tell the helpers these credentials were refused (they forget them)."""
    call(["credential", "reject"], cwd=cwd, input=_encode(fields))


def _access_key(endpoint: str) -> str:
    return f"lfs.{endpoint}.access"


def needs_basic(endpoint: str, cwd: Path | None) -> bool:
    """Whether this endpoint asked for credentials before (git-lfs's own
    `lfs.<url>.access = basic`, shared with it): then they are sent from the first request,
    saving the 401 round trip."""
    if cwd is None:
        return False
    proc = call(["config", "--get", _access_key(endpoint)], cwd=cwd)
    return proc.returncode == 0 and proc.stdout.decode().strip().lower() == "basic"


def remember_basic(endpoint: str, cwd: Path | None) -> None:
    if cwd is not None:
        call(["config", "--local", _access_key(endpoint), "basic"], cwd=cwd)
