"""What this clone has agreed to run or upload to (`git model trust`).

A cloned repository's `.gitmodel` may declare stage commands (run through the shell by the
pre-commit hook) and remote URLs (where `git model push` and `git push` upload). Git runs no
hook from a clone, and git-model runs no command and uploads to no URL that came from someone
else's repository without a local opt-in. The opt-in is a set of digests, one per stage
(name and command) or remote (name and URL), kept in `.git/model/trusted`: never in the
committed tree, shared by the clone's worktrees, and void for a definition that changes.

Definitions are trusted without asking when they are the user's own: a stage or remote the
commit being made introduces or changes in `.gitmodel` (the pre-commit hook), a remote added
with `git model remote add`, and whatever `git model install` finds in a repository that has
no git remote (it was made here, not cloned).
"""
from __future__ import annotations

import hashlib
from typing import Iterable

from gitmodel.git.repo import Repo, regular_file
from gitmodel.store.atomic import write_file

FILE = "trusted"
CONFIG = ".gitmodel"


def digest(kind: str, name: str, value: str) -> str:
    """The identity of one definition: a changed command or URL is a different one."""
    return hashlib.sha256(f"{kind}\0{name}\0{value}".encode("utf-8", "surrogateescape")
                          ).hexdigest()


def trusted(repo: Repo) -> set[str]:
    """The digests this clone trusts (empty when it never trusted anything)."""
    try:
        text = (repo.model_dir / FILE).read_text(errors="replace")
    except OSError:
        return set()
    return {line for line in text.split() if len(line) == 64}


def record(repo: Repo, digests: Iterable[str]) -> None:
    """Add `digests` to what this clone trusts (atomically; earlier ones are kept, so a
    branch switch between two trusted versions of a stage asks nothing)."""
    known = trusted(repo)
    new = set(digests) - known
    if new:
        lines = "".join(f"{d}\n" for d in sorted(known | new))
        write_file(repo.model_dir / FILE, lines.encode())


def made_here(repo: Repo) -> bool:
    """Whether the repository has no git remote: nothing in it was fetched from elsewhere."""
    return not repo.git("remote").strip()


def definitions(repo: Repo, blob: str | None = None) -> dict[str, str]:
    """`stage.NAME` -> command and `remote.NAME` -> URL of the `.gitmodel` at `blob`
    (`HEAD:.gitmodel`, `:.gitmodel`) or, without one, in the working tree; {} when there
    is none or it does not parse."""
    if blob is None:
        path = repo.top / CONFIG
        if not regular_file(path):
            return {}
        source = ["-f", str(path)]
    else:
        source = [f"--blob={blob}"]
    out = repo.git("config", *source, "--list", "-z", check=False)
    found: dict[str, str] = {}
    for item in filter(None, out.split("\0")):
        key, _, value = item.partition("\n")
        section, _, rest = key.partition(".")
        name, _, var = rest.rpartition(".")
        if (section, var) in (("stage", "cmd"), ("remote", "url")):
            found[f"{section}.{name}"] = value
    return found


def digests(found: dict[str, str]) -> list[str]:
    """The digests of `definitions`' result."""
    return [digest(kind, name, value) for (kind, _, name), value in
            ((key.partition("."), value) for key, value in found.items())]


def trust_all(repo: Repo) -> dict[str, str]:
    """`git model trust`: trust every stage command and remote URL `.gitmodel` now holds;
    return them (`stage.NAME` / `remote.NAME` -> command / URL)."""
    found = definitions(repo)
    record(repo, digests(found))
    return found
