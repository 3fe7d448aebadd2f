"""`.gitattributes` lines that route files through the model filter (`git model track`)."""
from __future__ import annotations

from pathlib import Path

from gitmodel.errors import UserError
from gitmodel.git.repo import regular_file

ATTRS = "filter=model diff=model merge=binary -text"


def _is_tracking_line(line: str) -> bool:
    fields = line.split()
    return len(fields) > 1 and not fields[0].startswith("#") and "filter=model" in fields[1:]


def patterns(top: Path) -> list[str]:
    """The patterns `.gitattributes` at the repository root routes to git-model."""
    path = top / ".gitattributes"
    if not regular_file(path):
        return []
    return [line.split()[0] for line in path.read_text().splitlines() if _is_tracking_line(line)]


def check_pattern(pattern: str) -> None:
    """Refuse what gitattributes cannot express, instead of writing a line git ignores."""
    if not pattern.strip():
        raise UserError("empty pattern: give a path pattern such as '*.safetensors'")
    if any(c.isspace() for c in pattern):
        raise UserError(f"pattern {pattern!r} contains white space, which .gitattributes "
                        "cannot hold: use '?' or '*' in its place")
    if pattern.startswith(("!", "#")):
        raise UserError(f"pattern {pattern!r} starts with {pattern[0]!r}: gitattributes has no "
                        "negative patterns or comments here; name the files to track instead")


def with_patterns(text: str, new: list[str]) -> str:
    """TEXT (a .gitattributes) with a tracking line for each of NEW it lacks."""
    existing = {line.split()[0] for line in text.splitlines() if _is_tracking_line(line)}
    added = [p for p in dict.fromkeys(new) if p not in existing]
    if not added:
        return text
    if text and not text.endswith("\n"):
        text += "\n"
    return text + "".join(f"{p} {ATTRS}\n" for p in added)


def without_patterns(text: str, old: list[str]) -> str:
    """TEXT without the tracking lines of OLD."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if not (_is_tracking_line(line) and line.split()[0] in old))


def normalize(pattern: str) -> str:
    """A directory pattern as gitattributes can match it: `models/` matches no file, `models/**` all
    the files under it."""
    return pattern + "**" if pattern.endswith("/") else pattern


def matches_any(pattern: str, paths: list[str]) -> bool:
    """Whether gitattributes' PATTERN matches one of PATHS (git's wildmatch rules, via pathspec)."""
    import pathspec  # only `track` asks
    spec = pathspec.GitIgnoreSpec.from_lines([pattern])
    return any(spec.match_file(path) for path in paths)


def track(top: Path, new: list[str]) -> list[str]:
    """Append a tracking line per new pattern; return the patterns added."""
    for pattern in new:
        check_pattern(pattern)
    existing = set(patterns(top))
    added = [p for p in dict.fromkeys(new) if p not in existing]
    if added:
        path = top / ".gitattributes"
        path.write_text(with_patterns(path.read_text() if regular_file(path) else "", added))
    return added


def untrack(top: Path, old: list[str]) -> list[str]:
    """Remove the tracking lines of these patterns; return the patterns removed."""
    path = top / ".gitattributes"
    if not regular_file(path):
        return []
    text = path.read_text()
    removed = [line.split()[0] for line in text.splitlines()
               if _is_tracking_line(line) and line.split()[0] in old]
    path.write_text(without_patterns(text, old))
    return removed
