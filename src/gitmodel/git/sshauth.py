"""`git-lfs-authenticate` over ssh: how git-lfs gets LFS credentials for an ssh git remote
(https://github.com/git-lfs/git-lfs/blob/main/docs/api/authentication.md).

`ssh [-p PORT] [USER@]HOST git-lfs-authenticate PATH OPERATION` prints
`{"href": …, "header": {…}, "expires_in": …}`: the endpoint and the headers to send.
The ssh command is git's (GIT_SSH_COMMAND, then core.sshCommand, else `ssh`), so keys,
agents and known_hosts work as for `git push`. The URL is the user's own git remote; a
host or path that could pass for an ssh option is refused.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

from gitmodel.git.repo import run, ssh

_SAFE = re.compile(r"[A-Za-z0-9._~/@+-]+")
TIMEOUT = 30


def parse_ssh_url(url: str) -> tuple[str, int | None, str] | None:
    """(user@host, port, path) of an ssh or scp-like git URL; None for anything else."""
    if url.startswith("ssh://"):
        parts = urlsplit(url)
        host = parts.hostname or ""
        login = f"{parts.username}@{host}" if parts.username else host
        target = (login, parts.port, parts.path.lstrip("/"))
    elif "://" not in url and ":" in url.split("/", 1)[0]:
        login, _, path = url.partition(":")
        target = (login, None, path)
    else:
        return None
    login, _, path = target
    if not login or login.startswith("-") or not _SAFE.fullmatch(login) or not _SAFE.fullmatch(path):
        return None
    return target


def ssh_remote_url(cwd: Path) -> str | None:
    """The URL of the current branch's git remote (else origin) when it is an ssh one."""
    branch = run(["symbolic-ref", "-q", "--short", "HEAD"], cwd=cwd, check=False).strip()
    name = (branch and run(["config", f"branch.{branch}.remote"], cwd=cwd, check=False).strip()) \
        or "origin"
    url = run(["config", f"remote.{name}.url"], cwd=cwd, check=False).strip()
    return url if url and parse_ssh_url(url) else None


def authenticate(url: str, operation: str, cwd: Path) -> tuple[str, dict[str, str]] | None:
    """(href, headers) from `git-lfs-authenticate`; None when it cannot be had."""
    target = parse_ssh_url(url)
    if target is None or operation not in ("upload", "download"):
        return None
    login, port, path = target
    proc = ssh([*(["-p", str(port)] if port else []), "--", login,
                f"git-lfs-authenticate {path} {operation}"], cwd, TIMEOUT)
    if proc is None:
        return None
    if proc.returncode != 0:
        return None
    try:
        answer = json.loads(proc.stdout[:65536])
        href, header = answer["href"], answer.get("header") or {}
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(href, str) or urlsplit(href).scheme not in ("http", "https") \
            or not isinstance(header, dict) \
            or not all(isinstance(k, str) and isinstance(v, str) and "\n" not in k + v
                       for k, v in header.items()):
        return None
    return href.rstrip("/"), header
