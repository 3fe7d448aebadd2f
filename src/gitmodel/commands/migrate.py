"""`git model migrate import|export|info`: model files committed raw become pointers, or back.

The options are git-lfs's (`--include`/`--exclude`, `--everything` or refs and
ranges, `--above`, `--dry-run`). History is rewritten by streaming
`git fast-export --no-data | git fast-import`: fast-export names each file by
its blob id, so only the blobs to convert are read, one at a time, from
`git cat-file --batch-command` straight into the cache (import) or from the
cache straight into fast-import (export); memory stays bounded whatever the
model size. Each blob is converted once, however many commits hold it, and
every version lands in the one deduplicating cache. Every rewritten commit's
`.gitattributes` gets (import) or loses (export) the tracking lines.
fast-import updates the refs only when the whole stream arrived, with a
reflog entry each; tags are rewritten with their commits.
"""
from __future__ import annotations

import ast
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import IO

from gitmodel.errors import UserError
from gitmodel.git import attributes
from gitmodel.git.cache import open_store
from gitmodel.git.catfile import BlobReader
from gitmodel.git.repo import Repo, blob_sizes, read_blobs, start
from gitmodel.store.objects import Manifest
from gitmodel.store.pointer import MAX_POINTER_SIZE, Pointer, parse
from gitmodel.units import human

ATTRS = ".gitattributes"
_FIRST_MARK = 1 << 40  # our blob marks, far above fast-export's commit and tag marks
_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?", re.IGNORECASE)


def parse_size(text: str) -> int:
    """git-lfs's sizes: `500kb` = 500,000 bytes, `1MiB` = 1,048,576, a bare number is bytes."""
    match = _SIZE_RE.fullmatch(text.strip())
    if match is None:
        raise UserError(f"size {text!r} not understood: write it like 1mb, 500KiB or 2000000")
    number, unit, binary = match.groups()
    power = "kmgt".find(unit.lower()) + 1 if unit else 0
    return int(float(number) * (1024 if binary else 1000) ** power)


@dataclass
class Selection:
    """Which paths to convert: gitignore-style patterns, as git-lfs reads them."""

    include: list[str]
    exclude: list[str] = field(default_factory=list)
    above: int = 0

    def __post_init__(self) -> None:
        import pathspec
        self._include = pathspec.GitIgnoreSpec.from_lines(self.include)
        self._exclude = pathspec.GitIgnoreSpec.from_lines(self.exclude)

    def wants(self, path: str) -> bool:
        return (not self.include or self._include.match_file(path)) \
            and not self._exclude.match_file(path)


def split_patterns(values: tuple[str, ...]) -> list[str]:
    """`--include=a,b --include=c` -> [a, b, c]; `DIR/` -> `DIR/**` as `track` writes it."""
    return [attributes.normalize(p.strip()) for value in values for p in value.split(",") if p.strip()]


def revisions(repo: Repo, everything: bool, refs: list[str]) -> list[str]:
    """What to rewrite, as rev-list arguments: git-lfs's defaults."""
    if everything:
        if refs:
            raise UserError("--everything rewrites every ref: name no refs with it")
        out = repo.git("for-each-ref", "--format=%(refname)", "refs/heads", "refs/tags", "refs/remotes")
        found = [ref for ref in out.split() if not ref.endswith("/HEAD")]
        if not found:
            raise UserError("no commits to migrate: commit something first")
        return found
    if refs:
        return [_full_ref(repo, ref) for ref in refs]
    branch = repo.git("symbolic-ref", "-q", "HEAD", check=False).strip()
    if repo.commit("HEAD") is None:
        raise UserError("no commits to migrate: commit something first")
    if not branch:
        raise UserError("no branch checked out: name the refs to migrate, or use --everything")
    return [branch, "--not", "--remotes"]  # as git-lfs: commits already on a remote stay


def _full_ref(repo: Repo, ref: str) -> str:
    """A branch or tag as its full name (fast-export updates what it is given by name)."""
    if ref.startswith("^") or ".." in ref or ref.startswith("-"):
        return ref if not ref.startswith("-") else _refuse_option(ref)
    full = repo.git("rev-parse", "--symbolic-full-name", ref, check=False).strip()
    if not full.startswith("refs/"):
        raise UserError(f"{ref!r} is not a branch or tag: name refs (main, v1) or ranges (main ^v1)")
    return full


def _refuse_option(ref: str) -> str:
    raise UserError(f"unknown option {ref!r}: see `git model migrate --help`")


# -- info and dry runs ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Found:
    path: str
    blob: str
    size: int


def scan(repo: Repo, revs: list[str], selection: Selection, pointers: bool) -> list[Found]:
    """The blobs the rewrite would convert: raw content (import) or pointers (export) of the
    selected paths in the history REVS reach (each blob under the first path git names it by)."""
    out = repo.git("rev-list", "--objects", *revs)
    pairs = [(path, oid) for oid, _, path in (line.partition(" ") for line in out.splitlines())
             if path and selection.wants(path)]
    sizes = blob_sizes(repo.top, (blob for _, blob in pairs))
    small = read_blobs(repo.top, (b for b, n in sizes.items() if n < MAX_POINTER_SIZE))
    found = []
    for path, blob in pairs:
        if blob not in sizes:
            continue  # a tree
        pointer = parse(small[blob]) if blob in small else None
        is_pointer = pointer is not None and pointer.size > 0
        if pointers and is_pointer:
            assert pointer is not None
            found.append(Found(path, blob, pointer.size))
        elif not pointers and not is_pointer and sizes[blob] and sizes[blob] >= selection.above:
            found.append(Found(path, blob, sizes[blob]))
    return found


def info(repo: Repo, revs: list[str], selection: Selection, top: int) -> list[str]:
    """Raw blobs by file type, largest first, as `git lfs migrate info` lists them."""
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # bytes, files above, files
    for item in scan(repo, revs, Selection(selection.include, selection.exclude), pointers=False):
        name = item.path.rsplit("/", 1)[-1]
        group = groups["*." + name.rsplit(".", 1)[1] if "." in name.lstrip(".") else "/" + item.path]
        group[2] += 1
        if item.size >= selection.above:
            group[0] += item.size
            group[1] += 1
    total = sum(g[0] for g in groups.values()) or 1
    ranked = sorted(groups.items(), key=lambda kv: -kv[1][0])[:top]
    return [f"{name}\t{human(size)}\t{above}/{files} files\t{100 * size // total}%"
            for name, (size, above, files) in ranked if above]


# -- the rewrite ------------------------------------------------------------------------------------
@dataclass
class Rewritten:
    commits: int = 0
    converted: int = 0
    bytes: int = 0
    refs: set[str] = field(default_factory=set)


def rewrite(repo: Repo, revs: list[str], selection: Selection, to_pointers: bool) -> Rewritten:
    """Rewrite the history REVS reach; the working tree follows a rewritten HEAD."""
    if to_pointers and not selection.above:
        for pattern in selection.include:  # they become .gitattributes lines
            attributes.check_pattern(pattern)
    if to_pointers and not repo.config("filter.model.process"):
        raise UserError("the model filter is not configured here, so the migrated files would look "
                        "modified: run `git model install`, then migrate")
    _refuse_dirty(repo)
    head = repo.commit("HEAD")
    exporter = start(["fast-export", "--no-data", "--use-done-feature", "--signed-tags=strip",
                      "--tag-of-filtered-object=rewrite", "--reference-excluded-parents",
                      "--reencode=no", *revs], repo.top, stdout=True)
    # blobs above 1 MiB go straight to a pack, never held whole by fast-import
    importer = start(["fast-import", "--quiet", "--force", "--big-file-threshold=1m"],
                     repo.top, stdin=True)
    assert exporter.stdout is not None and importer.stdin is not None
    blobs = BlobReader(repo.top, repo.common_dir / "objects")
    work = _Stream(repo, blobs, importer.stdin, selection, to_pointers)
    try:
        work.run(exporter.stdout)
        importer.stdin.close()
    except BaseException:
        exporter.kill()
        importer.kill()  # before `done`: fast-import updates no ref
        raise
    finally:
        blobs.close()
    if exporter.wait() != 0 or importer.wait() != 0:
        raise UserError("git fast-export or fast-import failed (its message is above): "
                        "no ref was changed")
    if head is not None and repo.commit("HEAD") != head:
        _follow_head(repo)
    return work.result


# git reads a file or blob below core.bigFileThreshold (512 MiB) whole into memory to hash or
# print it (`git status` on a fresh 300 MiB raw file: 312 MB resident, measured); above it, git
# streams. Every git command here that may read a model's bytes runs with a 1 MiB threshold.
STREAM = ("-c", "core.bigFileThreshold=1m")


def _refuse_dirty(repo: Repo) -> None:
    if repo.git(*STREAM, "status", "--porcelain", "--untracked-files=no").strip():
        raise UserError("the working tree has uncommitted changes: commit or stash them, then migrate")


def _follow_head(repo: Repo) -> None:
    """Index and working tree to the rewritten HEAD: its .gitattributes, then the index (the
    model files on disk already hold the right bytes; git re-cleans them once, streaming).

    Not `git reset`: right after the rewrite it held 620 MB for a 300 MiB model (measured;
    `read-tree --reset` + `update-index --refresh`: 41 MB).
    """
    if repo.git("ls-tree", "--name-only", "HEAD", "--", ATTRS).strip():
        repo.git(*STREAM, "checkout", "HEAD", "--", ATTRS)
    repo.git("read-tree", "--reset", "HEAD")  # entries whose blob is unchanged keep their stat
    repo.git(*STREAM, "update-index", "-q", "--refresh", check=False)


def _unquote(token: bytes) -> str:
    """A path as fast-export writes it (C-quoted when it has special bytes)."""
    if token.startswith(b'"'):
        token = ast.literal_eval("b" + token.decode("ascii"))
    return token.decode(errors="surrogateescape")


def _quote(path: str) -> str:
    """A path for a fast-import change line: C-quoted when it would be ambiguous."""
    if path.startswith('"') or "\n" in path or "\\" in path:
        return '"' + path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return path


@dataclass(frozen=True)
class _Attrs:
    """A commit's .gitattributes: as it was, the lines we add, and as rewritten (None: no file)."""

    original: str | None
    extra: frozenset[str]
    text: str | None


class _Stream:
    """Reads fast-export's stream and writes fast-import's, one command at a time."""

    def __init__(self, repo: Repo, blobs: BlobReader, out: IO[bytes], selection: Selection,
                 to_pointers: bool) -> None:
        self.repo, self.store, self.blobs, self.out, self.sel = repo, open_store(repo), blobs, out, selection
        self.to_pointers = to_pointers
        self.marks: dict[str, bytes | None] = {}  # blob -> our mark, or None: left as it is
        self.last: dict[str, Manifest] = {}  # path -> its version imported last (delta bases)
        self.attrs: dict[bytes, _Attrs] = {}  # commit mark -> its .gitattributes
        self.next_mark = _FIRST_MARK
        self.result = Rewritten()
        # import without --above tracks the patterns; with it, the paths converted (as git-lfs)
        self.start = frozenset(selection.include if to_pointers and not selection.above else ())

    def run(self, src: IO[bytes]) -> None:
        while line := src.readline():
            if line.startswith(b"commit "):
                self._commit(line, src)
                continue
            if line.startswith((b"reset ", b"tag ")):
                name = line.split(b" ", 1)[1].strip().decode(errors="replace")
                self.result.refs.add(name if line.startswith(b"reset ") else f"refs/tags/{name}")
            self.out.write(line)
            if line.startswith(b"data "):
                self.out.write(_exactly(src, int(line[5:])))

    def _commit(self, first: bytes, src: IO[bytes]) -> None:
        header, changes, parents, mark = [first], [], [], b""
        while (line := src.readline()) not in (b"\n", b""):
            if line.startswith(b"data "):
                header += [line, _exactly(src, int(line[5:]))]
            elif line[:2] in (b"M ", b"D ") or line.startswith(b"deleteall"):
                changes.append(line)
            else:
                header.append(line)
                if line.startswith(b"mark "):
                    mark = line[5:].strip()
                elif line.startswith((b"from ", b"merge ")):
                    parents.append(line.split(b" ", 1)[1].strip())
        self.result.refs.add(first[7:].strip().decode(errors="replace"))
        self.result.commits += 1
        before = self._inherit(parents)
        original, extra, touched, kept = before.original, set(before.extra), False, []
        changed: set[str] = set()
        for change in changes:
            if change.startswith(b"deleteall"):
                touched, original = True, None
                kept.append(change)
                continue
            path = _unquote(change.rstrip(b"\n").split(b" ", 3)[-1] if change[:2] == b"M "
                            else change[2:].rstrip(b"\n"))
            if path == ATTRS:
                touched = True
                original = self._text(change.split(b" ")[2].decode()) if change[:2] == b"M " else None
                continue
            if change[:2] == b"M ":
                change = self._convert(change, path, extra)
            kept.append(change)
            changed.add(path)
        if parents and parents[0] not in self.attrs:  # a parent left as it was: fast-export lists
            kept += self._inherited(parents[0], changed, extra)  # only changes, convert the rest too
        text = self._fix(original, extra)
        if touched or text != before.text:
            kept.append(b"D .gitattributes\n" if text is None else
                        b"M 100644 inline .gitattributes\ndata %d\n%s\n" % (len(text.encode()),
                                                                           text.encode()))
        if mark:
            self.attrs[mark] = _Attrs(original, frozenset(extra), text)
        self.out.write(b"".join(header) + b"".join(kept) + b"\n")

    def _inherit(self, parents: list[bytes]) -> _Attrs:
        """The first parent's .gitattributes (a commit outside the rewrite keeps its own), with
        the lines every rewritten parent added (a merge keeps both sides')."""
        if not parents:
            return _Attrs(None, self.start, None)
        extra = set(self.start)
        for parent in parents:
            if parent in self.attrs:
                extra |= self.attrs[parent].extra
        first = self.attrs.get(parents[0])
        if first is None:  # an original commit: its own file, unchanged
            text = self._text(f"{parents[0].decode()}:{ATTRS}")
            return _Attrs(text, frozenset(extra), text)
        return _Attrs(first.original, frozenset(extra), first.text)

    def _inherited(self, parent: bytes, changed: set[str], extra: set[str]) -> list[bytes]:
        """Change lines converting the selected files of an original parent that the commit
        keeps as they were (a range's first commits)."""
        lines = []
        for record in filter(None, self.repo.git("ls-tree", "-r", "-z", parent.decode()).split("\0")):
            meta, path = record.split("\t", 1)
            if path in changed or path == ATTRS or not self.sel.wants(path):
                continue
            mode, _kind, blob = meta.split()
            line = f"M {mode} {blob} {_quote(path)}\n".encode(errors="surrogateescape")
            if (converted := self._convert(line, path, extra)) != line:
                lines.append(converted)
        return lines

    def _text(self, name: str) -> str | None:
        data = self.blobs.read(name)
        return None if data is None else data.decode(errors="surrogateescape")

    def _fix(self, original: str | None, extra: set[str]) -> str | None:
        if self.to_pointers:
            return attributes.with_patterns(original or "", sorted(extra)) if extra else original
        return None if original is None else attributes.without_patterns(original, self.sel.include)

    def _convert(self, change: bytes, path: str, extra: set[str]) -> bytes:
        """The change line with the blob converted, when the path is selected and the blob is one
        to convert (stored into the cache, or rebuilt from it, once per blob)."""
        _, mode, blob_ref, path_token = change.rstrip(b"\n").split(b" ", 3)
        if mode not in (b"100644", b"100755") or not self.sel.wants(path):
            return change
        blob = blob_ref.decode()
        if blob not in self.marks:
            self.marks[blob] = self._import(blob, path) if self.to_pointers else self._export(blob, path)
        mark = self.marks[blob]
        if mark is None:
            return change
        if self.to_pointers and self.sel.above:
            extra.add("/" + re.sub(r"\s", "?", path))
        return b"M %s %s %s\n" % (mode, mark, path_token)

    def _new_blob(self, size: int) -> bytes:
        self.next_mark += 1
        mark = b":%d" % self.next_mark
        self.out.write(b"blob\nmark %s\ndata %d\n" % (mark, size))
        self.result.converted += 1
        return mark

    def _import(self, blob: str, path: str) -> bytes | None:
        size = self.blobs.size(blob)
        if not size or size < self.sel.above:
            return None
        if size < MAX_POINTER_SIZE and parse(self.blobs.read(blob) or b"") is not None:
            return None  # already a pointer
        manifest = self.blobs.stream(blob, lambda stream: self.store.add_stream(
            stream, name=path, parent=self.last.get(path), size=size))
        assert manifest is not None
        self.last[path] = manifest
        data = manifest.pointer.encode()
        mark = self._new_blob(len(data))
        self.out.write(data + b"\n")
        self.result.bytes += size
        return mark

    def _export(self, blob: str, path: str) -> bytes | None:
        size = self.blobs.size(blob)
        if size is None or size >= MAX_POINTER_SIZE:
            return None
        pointer: Pointer | None = parse(self.blobs.read(blob) or b"")
        if pointer is None or not pointer.size:
            return None
        if not self.store.has_object(pointer):
            raise UserError(f"{path}: object {pointer.short} is not in the cache: fetch it first "
                            "(`git model fetch REV` for the revisions you migrate); no ref was changed")
        mark = self._new_blob(pointer.size)
        self.store.write_to(pointer, self.out)
        self.out.write(b"\n")
        self.result.bytes += pointer.size
        return mark


def _exactly(src: IO[bytes], size: int) -> bytes:
    data = src.read(size)
    if len(data) != size:
        raise UserError("git fast-export's stream ended early: no ref was changed")
    return data
