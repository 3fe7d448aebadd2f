"""`git model track`: route paths to git-model, and catch up with files committed before.

Git does not re-clean a file whose stat data is unchanged, so a file committed
raw before its pattern was tracked stays raw at the next `git add -A`. Like
`git lfs track`, we touch such files (new mtime): git re-examines them, sees
that the cleaned content (a pointer) differs and stages the pointer. History
keeps the raw blobs; we name them and the command that rewrites it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from gitmodel.git import attributes, raw
from gitmodel.git.repo import Repo


@dataclass
class Tracked:
    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    directories: dict[str, str] = field(default_factory=dict)  # "models/" -> "models/**"
    unmatched: list[str] = field(default_factory=list)
    touched: list[str] = field(default_factory=list)
    in_history: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{given!r} names a directory: tracking {pattern!r} (every file under it)"
               for given, pattern in self.directories.items()]
        out += [f"tracking: {p}" for p in self.added] + [f"already tracked: {p}" for p in self.already]
        out += [f"no file matches {p!r} yet" for p in self.unmatched]
        if self.touched:
            out.append(f"{len(self.touched)} file(s) were committed raw before being tracked; git will "
                       f"store them as pointers at the next `git add`: {_few(self.touched)}")
        if self.in_history:
            includes = ",".join(self.added + self.already)
            out.append(f"history still holds raw blobs of {_few(self.in_history)}: rewrite it with "
                       f"`git model migrate import --everything --include='{includes}'`")
        return out


def _few(paths: list[str]) -> str:
    return ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")


def track(repo: Repo, given: list[str]) -> Tracked:
    result = Tracked()
    patterns = []
    for pattern in given:
        normal = attributes.normalize(pattern)
        if normal != pattern:
            result.directories[pattern] = normal
        patterns.append(normal)
    added = attributes.track(repo.top, patterns)
    result.added = added
    result.already = [p for p in dict.fromkeys(patterns) if p not in added]
    files = [p for p in repo.git("ls-files", "-z", "-co", "--exclude-standard").split("\0") if p]
    result.unmatched = [p for p in added if not attributes.matches_any(p, files)]
    if added:
        result.touched = _touch(repo, raw.in_index(repo))
        result.in_history = sorted({r.path for r in raw.in_history(repo)})
    return result


def _touch(repo: Repo, staged_raw: list[raw.RawBlob]) -> list[str]:
    """Give each raw-staged file a new mtime, so that git cleans it again at the next add."""
    touched = []
    for item in staged_raw:
        try:
            os.utime(repo.top / item.path)
        except OSError:
            continue  # deleted from the working tree: nothing for git to re-clean
        touched.append(item.path)
    return touched
