"""The `git` binary, driven as a subprocess: repository discovery, config, trees.

Calling real git (rather than re-implementing its index or config parsing)
keeps us exactly as correct as the git the user runs, worktrees, hooksPath
and include files included.
"""
from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Callable, Collection, Iterable, Sequence

from gitmodel.errors import UserError
from gitmodel.git.blobcache import Fact, PointerBlobs
from gitmodel.store.pointer import MAX_POINTER_SIZE, Pointer, from_checked, parse

LFS_PROCESS = "git-model filter-process"  # filter.lfs.process once git-model serves filter=lfs


class GitError(UserError):
    """A git command failed; the message is git's own."""


def call(args: Sequence[str], cwd: Path | str | None = None, input: bytes | None = None,
         env: dict | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run `git ARGS`, output captured, whatever its exit status: the one place git is started
    to completion (the long-lived `cat-file --batch` readers below are the others)."""
    return subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, env=env)


def start(args: Sequence[str], cwd: Path | str, stdin: bool = False, stdout: bool = False,
          stdout_to: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    """Start a long-lived `git ARGS` with pipes (fast-export, fast-import, cat-file
    --batch-command): content streams through, never held whole. stderr is the user's."""
    pipe, null = subprocess.PIPE, subprocess.DEVNULL
    return subprocess.Popen(["git", *args], cwd=cwd, stdin=pipe if stdin else null,
                            stdout=stdout_to if stdout_to is not None else pipe if stdout else null)


def last_error_line(proc: subprocess.CompletedProcess[bytes], fallback: str) -> str:
    """git's own last line on stderr (its `fatal: …`), for a one-line error."""
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else fallback


def ssh(args: Sequence[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[bytes] | None:
    """Run git's ssh command (GIT_SSH_COMMAND, then core.sshCommand, else `ssh`) with ARGS, as
    git does for an ssh remote (git/sshauth.py: `git-lfs-authenticate`); None if it cannot start."""
    command = os.environ.get("GIT_SSH_COMMAND") or \
        run(["config", "core.sshCommand"], cwd=cwd, check=False).strip() or "ssh"
    try:
        return subprocess.run([*shlex.split(command), *args], cwd=cwd, capture_output=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def run(args: Sequence[str], cwd: Path | str | None = None, input: bytes | None = None,
        check: bool = True, env: dict | None = None) -> str:
    """Run `git ARGS` and return stdout as text."""
    proc = call(args, cwd=cwd, input=input, env=env)
    if check and proc.returncode != 0:
        raise GitError(last_error_line(proc, f"git {args[0]} failed"))
    return proc.stdout.decode(errors="surrogateescape")


# an `ls-tree -r -l -z` record of a blob of at most 4 digits' size: (blob, size, path)
_LS_TREE_RE = re.compile(r"(?:^|(?<=\0))[0-7]{6} blob ([0-9a-f]+) +([0-9]{1,4})\t([^\0]*)\0")
_EXACT_PATHS = 200  # at most this many paths go on a command line (ARG_MAX is far away)
GITMODEL = ".gitmodel"  # the committed configuration (remotes, stages)


def listed_files(out: str) -> list[tuple[str, str]]:
    """(path, blob) of each regular file in `git ls-files -s -z` output: records split at
    their NULs, each `<mode> <blob> <stage>\t<path>` cut at its first tab (10,000 entries
    in 2.8 ms; a regular expression anchored after each NUL took 4.5)."""
    pairs = []
    for record in out.split("\0"):
        if record[:3] == "100":  # 100644 or 100755: a regular file
            meta, _, path = record.partition("\t")
            pairs.append((path, meta[7:-2]))
    return pairs


def gitmodel_key(path: Path) -> tuple | None:
    """What identifies a version of the file at PATH (a regular file; None otherwise)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def _read_settings(top: Path) -> tuple[dict[str, str | None], tuple[tuple, dict[str, str]] | None]:
    """git config's settings, and the work tree's `.gitmodel` read by the same process.

    `.gitmodel` comes in as an `include.path` in the command-line scope (GIT_CONFIG_COUNT),
    which git reads after every config file, and `--show-origin` tells its lines apart: one
    git process fewer for each command that needs the remotes. A `.gitmodel` that names an
    include of its own is not read this way (`git config -f .gitmodel` follows none), nor
    one git refuses (malformed): the settings are read alone and `.gitmodel` is left to its
    own reader, as before. Lines from any other file are dropped all the same (committed
    content must not pose as this clone's config)."""
    path = top / GITMODEL
    key = gitmodel_key(path)
    if key is not None and _no_include(path):
        env = dict(os.environ)
        count = env.get("GIT_CONFIG_COUNT", "0")
        n = int(count) if count.isdigit() else 0
        env.update({"GIT_CONFIG_COUNT": str(n + 1), f"GIT_CONFIG_KEY_{n}": "include.path",
                    f"GIT_CONFIG_VALUE_{n}": str(path)})
        proc = call(["config", "-z", "--list", "--show-origin"], cwd=top, env=env)
        if proc.returncode == 0:
            settings, ours = _split_origins(proc.stdout.decode(errors="surrogateescape"), str(path))
            if ours is not None:
                return settings, (key, ours)
    proc = call(["config", "-z", "--list"], cwd=top)
    items = proc.stdout.decode(errors="surrogateescape").split("\0")
    return dict(_setting(item) for item in items if item), None


def _no_include(path: Path) -> bool:
    """Whether the file at PATH (small) names no include: one would be followed once it is
    an include itself, and a committed file must not make git read /dev/stdin (the filter
    protocol) or /dev/tty (a hang). Section names carry no escapes, so the word is there."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(1 << 20)
    except OSError:
        return False
    return len(data) < 1 << 20 and b"include" not in data.lower()


def _setting(item: str) -> tuple[str, str | None]:
    key, newline, value = item.partition("\n")
    return _config_key(key), value if newline else None


def _split_origins(out: str, path: str) -> tuple[dict[str, str | None], dict[str, str] | None]:
    """(settings, `.gitmodel`'s keys) from `config --list --show-origin -z` run with PATH
    included last in the command-line scope; None for the second when the include is not found."""
    fields = out.split("\0")
    settings: dict[str, str | None] = {}
    ours: dict[str, str] | None = None
    for origin, item in zip(fields[0::2], fields[1::2]):
        key, value = _setting(item)
        if ours is None:
            if origin == "command line:" and key == "include.path" and value == path:
                ours = {}  # from here on: .gitmodel, its includes, then `git -c` settings
                continue
            settings[key] = value
        elif origin == f"file:{path}":
            ours[key] = value or ""
        elif origin == "command line:":
            settings[key] = value
    return settings, ours


_BOOLS = {"true": True, "yes": True, "on": True, "1": True,
          "false": False, "no": False, "off": False, "0": False, "": False}


def _config_key(key: str) -> str:
    """git's spelling of a key: section and name are case-blind, a subsection is not."""
    section, _, rest = key.partition(".")
    middle, _, name = rest.rpartition(".")
    return ".".join(part for part in (section.lower(), middle, name.lower()) if part)


def regular_file(path: Path) -> bool:
    """Whether `path` (a committed control file: `.gitmodel`, `.gitattributes`) exists; a
    symbolic link there is refused, as git refuses a symlinked `.gitmodules` or
    `.gitattributes`: reading or writing through it would reach outside the clone."""
    if path.is_symlink():
        raise UserError(f"{path.name} is a symbolic link, which git-model neither reads nor "
                        f"writes: replace it with a regular file (git rm {path.name})")
    return path.is_file()


def _top_git_set_up() -> Path | None:
    """The work tree's top when git started this process there for a plain repository
    (a filter or hook: git sets GIT_PREFIX and runs them from the top), so that the
    filter git starts for every add and re-clean skips `git rev-parse` (~3 ms, twice per
    add + commit); None whenever anything could make rev-parse answer otherwise."""
    env = os.environ
    if "GIT_PREFIX" not in env or any(k in env for k in ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR")):
        return None
    try:
        top = Path(os.getcwd())
        dot = os.lstat(top / ".git")
    except OSError:
        return None
    if not stat.S_ISDIR(dot.st_mode) or not (top / ".git" / "HEAD").is_file() \
            or os.path.lexists(top / ".git" / "commondir"):
        return None
    return top


@dataclass(frozen=True)
class Entry:
    """A path in a tree or the index whose blob is a pointer."""

    path: str
    blob: str
    pointer: Pointer


class Repo:
    """A git work tree and where git-model keeps its state for it."""

    def __init__(self, top: Path, git_dir: Path, common_dir: Path) -> None:
        self.top = top
        self.git_dir = git_dir
        self.common_dir = common_dir
        self.model_dir = common_dir / "model"
        self._gitmodel: tuple[tuple, dict[str, str]] | None = None

    @classmethod
    def discover(cls, cwd: Path | str | None = None) -> Repo:
        if cwd is None and (top := _top_git_set_up()) is not None:
            return cls(top, top / ".git", top / ".git")
        proc = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--show-toplevel",
             "--git-dir", "--git-common-dir"], cwd=cwd, capture_output=True)
        lines = proc.stdout.decode().splitlines()
        if proc.returncode != 0 or len(lines) != 3:
            raise UserError("not inside a git work tree: run this in a repository "
                            "(git init, or cd into one)")
        top, git_dir, common = (Path(line) for line in lines)
        return cls(top, git_dir, common)

    def from_cwd(self, paths: Sequence[str]) -> list[str]:
        """Paths the user typed (relative to where they stand) as paths from the top,
        which is where git-model runs git."""
        return [os.path.relpath(os.path.abspath(p), self.top) for p in paths]

    def commit(self, rev: str) -> str | None:
        """The commit `rev` names, or None (an option-looking rev names nothing)."""
        if not rev or rev.startswith("-"):
            return None
        out = self.git("rev-parse", "-q", "--verify", "--end-of-options", f"{rev}^{{commit}}",
                       check=False)
        return out.strip() or None

    def git(self, *args: str, input: bytes | None = None, check: bool = True) -> str:
        return run(args, cwd=self.top, input=input, check=check)

    def git_meanwhile(self, *args: str) -> Callable[[], str]:
        """Start `git ARGS` now; calling the result waits for its stdout (GitError if it
        failed). The caller works meanwhile: status reads the index's pointers while `git
        status` (~15 ms of 10,000 files) compares the work tree, on another core."""
        proc = subprocess.Popen(["git", *args], cwd=self.top, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def result() -> str:
            out, err = proc.communicate()
            if proc.returncode != 0:
                lines = err.decode(errors="replace").strip().splitlines()
                raise GitError(lines[-1] if lines else f"git {args[0]} failed")
            return out.decode(errors="surrogateescape")
        return result

    # -- config --------------------------------------------------------------
    @cached_property
    def _config(self) -> dict[str, str | None]:
        """Every setting in effect, read once per process (`git config --list`: one git process
        instead of one per key; a `git model status` asked for three keys, the filter two).
        The work tree's `.gitmodel` is read by the same process (`gitmodel_config`)."""
        settings, self._gitmodel = _read_settings(self.top)
        return settings

    def gitmodel_config(self) -> tuple[tuple, dict[str, str]] | None:
        """(stat key, settings) of the work tree's `.gitmodel` as this process's config read
        found it (the key as `gitmodel_key` gives it), or None when it was not read there."""
        _ = self._config  # the read sets it
        return self._gitmodel

    def config(self, key: str, default: str | None = None) -> str | None:
        """The value git would give for KEY (the last one set); DEFAULT when unset.

        Settings the process itself writes are not seen: read before writing."""
        key = _config_key(key)
        if key not in self._config:
            return default
        return self._config[key] or ""

    def config_matching(self, prefix: str, suffix: str) -> dict[str, str]:
        """Every setting whose key (as git spells it) starts with PREFIX and ends with SUFFIX,
        from the one `git config --list` of this process."""
        return {key: value or "" for key, value in self._config.items()
                if key.startswith(prefix) and key.endswith(suffix)}

    def config_bool(self, key: str, default: bool) -> bool:
        """KEY as git reads a boolean: a bare key is true; an unreadable value is DEFAULT."""
        key = _config_key(key)
        if key not in self._config:
            return default
        value = self._config[key]
        return True if value is None else _BOOLS.get(value.strip().lower(), default)

    def operation_in_progress(self) -> str | None:
        """The multi-step git command under way in this work tree (rebase, cherry-pick,
        revert, am), or None.

        Such a command keeps its own index in memory between the steps and checks the
        working tree against that index's stat data: a hook that re-dates a file or
        rewrites the index under it makes the next step fail with "Your local changes
        would be overwritten" (issue 10). git's own state files say one is running."""
        for name in ("rebase-merge", "rebase-apply", "sequencer", "CHERRY_PICK_HEAD",
                     "REVERT_HEAD"):
            if (self.git_dir / name).exists():
                return name
        action = os.environ.get("GIT_REFLOG_ACTION", "")
        return action if action.startswith(("rebase", "cherry-pick", "revert", "am")) else None

    @cached_property
    def index_file(self) -> tuple[Path, int]:
        """(this work tree's index file, the length of its object ids): from the git dir and
        the config already read, or, when GIT_INDEX_FILE names another, from git (`rev-parse
        --git-path index`, one process: the post-checkout hook asked it twice every time)."""
        if "GIT_INDEX_FILE" not in os.environ:
            return self.git_dir / "index", self.hash_len
        where, form = self.git("rev-parse", "--git-path", "index",
                               "--show-object-format").splitlines()
        return self.top / where, 32 if form == "sha256" else 20

    @cached_property
    def hash_len(self) -> int:
        """The length in bytes of this repository's object ids (sha1 or sha256), from the
        config already read."""
        return 32 if (self.config("extensions.objectFormat") or "").lower() == "sha256" else 20

    @cached_property
    def hooks_dir(self) -> Path:
        """Where git runs hooks from: core.hooksPath (~ expanded, relative to the work tree's
        top, where git runs hooks), else the common git dir's hooks/ (what `git rev-parse
        --git-path hooks` says, without a git process for every command)."""
        configured = self.config("core.hooksPath")
        if configured:
            path = Path(configured).expanduser()
            return path if path.is_absolute() else self.top / path
        return self.common_dir / "hooks"

    # -- pointers in trees and the index ---------------------------------------
    def tree_entries(self, rev: str, paths: Sequence[str] = ()) -> list[Entry]:
        """Pointer files in commit `rev` (every path, or under `paths`)."""
        if rev.startswith("-"):  # a fetched tag named `-n` is a rev here, never an option
            # (git 2.39's ls-tree lists nothing after --end-of-options: resolve it first)
            resolved = self.git("rev-parse", "-q", "--verify", "--end-of-options", rev,
                                check=False).strip()
            if not resolved:
                raise GitError(f"fatal: not a valid object name {rev}")
            rev = resolved
        out = self.git("ls-tree", "-r", "-z", "-l", "--full-tree", rev, "--", *paths)
        # blobs under a pointer's size: 3 digits at most (MAX_POINTER_SIZE is 1024)
        candidates = [(path, blob) for blob, size, path in _LS_TREE_RE.findall(out)
                      if int(size) < MAX_POINTER_SIZE]
        return self._pointers(candidates)

    def tree_blobs(self, commit: str) -> set[str]:
        """The ids of the blobs in `commit`'s tree (a commit id, not a name: no option)."""
        out = self.git("ls-tree", "-r", "-z", "--full-tree", commit)
        return {fields[2] for record in out.split("\0")
                if len(fields := record.split("\t", 1)[0].split(" ")) == 3 and fields[1] == "blob"}

    def path_history(self, path: str, count: int) -> list[Entry]:
        """The pointer files `path` held in the newest `count` commits of HEAD's
        first-parent history that changed it, newest first (none before a first commit)."""
        out = self.git("log", "-z", f"-{count}", "--first-parent", "--format=", "--raw",
                       "--no-abbrev", "--no-renames", "HEAD", "--", f":(literal){path}",
                       check=False)
        blobs = [r.split()[3] for r in out.split("\0") if r.startswith(":") and len(r.split()) > 3]
        return self._pointers([(path, b) for b in blobs if b.strip("0")])

    def index_entries(self, paths: Sequence[str] = (),
                      only: Collection[str] | None = None) -> list[Entry]:
        """Pointer files staged in the index (under pathspecs `paths`; of the exact paths
        `only`, when given: those are not pathspecs, and the blobs of other entries are
        not read, so a caller that knows what changed pays for that alone)."""
        if only is not None and not paths and len(only) <= _EXACT_PATHS:
            if not only:
                return []
            # a few exact paths (a hook after a checkout): git lists those alone, as
            # literal pathspecs (at 10,000 files: ~3 ms, where listing all took ~15)
            listed = self.index_files([f":(literal){p}" for p in sorted(only)], magic=True)
        else:
            listed = self.index_files(paths)
        candidates = [(path, blob) for path, blob in listed if only is None or path in only]
        return self._pointers(candidates, sized=False)

    def index_entries_at(self, paths: Iterable[str]) -> list[Entry]:
        """Pointer files staged at exactly these paths, however many (a fresh clone can have
        15,000 racy ones): beyond a few, the index is listed once and filtered here, since a
        long path list on git's command line overflows ARG_MAX."""
        wanted = set(paths)
        return self.index_entries(only=wanted) if wanted else []

    def recorded_small(self) -> set[str] | None:
        """The index's paths recorded with a pointer's size: git records the stat of what it
        wrote, so these are the only files it can have left as pointers (racy entries, size
        0, included). None when the index cannot be read here. Parsing the index costs ~4 ms
        at 10,000 entries (`index.recorded_below`): what makes a hook's cost follow the
        pointers left, not the repository, and status read those files alone."""
        from gitmodel.git import index
        try:
            return index.recorded_below(*self.index_file, MAX_POINTER_SIZE)
        except (index.Unsupported, OSError):
            return None

    def model_listing(self) -> str:
        """`git ls-files -s -z` of the index's paths that say filter=model: what
        status reads, and what its cache (commands/statuscache.py) is keyed by.

        The paths come from ls-files with an `attr:` pathspec, so git applies the
        attributes in the same pass that lists the index: at 10,000 files 8 ms in one
        process, where ls-files, check-attr and parsing both outputs took ~45 ms in two."""
        return self.git_magic("ls-files", "-s", "-z", "--full-name", "--", *self.model_pathspecs())

    def model_pathspecs(self) -> list[str]:
        """Pathspecs of the paths whose attributes say filter=model (or filter=lfs in a
        git-lfs repository git-model took over): git applies the attributes itself, in the
        command that lists the paths, instead of a check-attr of every path after it."""
        ours = ["model", "lfs"] if self.config("filter.lfs.process") == LFS_PROCESS else ["model"]
        return [f":(attr:filter={name})" for name in ours]

    def git_magic(self, *args: str, check: bool = True) -> str:
        """`git ARGS` whose pathspecs use magic (`:(attr:...)`), honoured even when the user's
        environment turns magic off (GIT_LITERAL_PATHSPECS would make one a file name that
        matches nothing)."""
        env = {k: v for k, v in os.environ.items() if k != "GIT_LITERAL_PATHSPECS"}
        return run(args, cwd=self.top, env=env, check=check)

    def index_files(self, paths: Sequence[str], magic: bool = False) -> list[tuple[str, str]]:
        """(path, blob) of the index's regular files, every stage; `magic`: `paths` use
        pathspec magic (`git_magic`)."""
        args = ("ls-files", "-s", "-z", "--full-name", "--", *paths)
        return listed_files(self.git_magic(*args) if magic else self.git(*args))

    def pointer_facts(self, blobs: set[str], sized: bool = True) -> dict[str, Fact]:
        """(oid, size) of those of `blobs` that are pointers: the ones seen before from
        `blobcache`, the others read with cat-file (after a size check unless `sized`: known
        small) and remembered. No Pointer is made: status at 10,000 files makes only those
        it reports."""
        cache = PointerBlobs(self.model_dir / "pointer-blobs.sqlite")
        try:
            facts = cache.get(blobs)
        finally:
            cache.close()
        unknown = blobs - facts.keys()
        if unknown:
            fresh = read_blobs(self.top, unknown if sized else small_blobs(self.top, unknown))
            pointers = {blob: p for blob, data in fresh.items() if (p := parse(data)) is not None}
            self.keep_pointers(pointers)
            facts.update((blob, (p.oid, p.size)) for blob, p in pointers.items())
        return facts

    def _pointers(self, candidates: list[tuple[str, str]], sized: bool = True) -> list[Entry]:
        """The candidates whose blob is a pointer (`pointer_facts`)."""
        facts = self.pointer_facts({blob for _, blob in candidates}, sized)
        made: dict[str, Pointer] = {}
        entries = []
        for path, blob in candidates:
            fact = facts.get(blob)
            if fact is not None:
                pointer = made.get(blob) or made.setdefault(blob, from_checked(*fact))
                entries.append(Entry(path, blob, pointer))
        return entries

    def keep_pointers(self, pointers: dict[str, Pointer]) -> None:
        """Remember `pointers` (blob id -> its pointer) for `pointer_facts`."""
        if pointers:
            cache = PointerBlobs(self.model_dir / "pointer-blobs.sqlite")
            try:
                cache.put(pointers)
            finally:
                cache.close()

    def reachable_pointers(self) -> set[Pointer]:
        """Every pointer any ref, reflog entry, stash or index (of any worktree) holds.

        Raises GitError when git cannot walk it all: a partial answer must never
        pass for the whole one (gc would delete what it missed).
        """
        out = self.git("rev-list", "--objects", "--all", "--reflog", "--indexed-objects")
        ids = {line.split(" ", 1)[0] for line in out.splitlines() if line}
        blobs = read_blobs(self.top, small_blobs(self.top, ids))
        return {p for data in blobs.values() if (p := parse(data)) is not None and p.size}

    def filtered_paths(self, paths: Iterable[str]) -> set[str]:
        """The subset of `paths` whose gitattributes say filter=model (or filter=lfs in a
        git-lfs repository git-model took over: `git model install`)."""
        paths = list(paths)
        if not paths:
            return set()
        ours = {"model", "lfs"} if self.config("filter.lfs.process") == LFS_PROCESS else {"model"}
        out = self.git("check-attr", "-z", "--stdin", "filter",
                       input="\0".join(paths).encode() + b"\0")
        fields = out.split("\0")
        return {fields[i] for i in range(0, len(fields) - 2, 3) if fields[i + 2] in ours}


def blob_sizes(cwd: Path, blobs: Iterable[str]) -> dict[str, int]:
    """Size of each blob (non-blobs and missing objects left out), with one `git cat-file
    --batch-check --buffer` (unbuffered, git flushes each answer: 10,000 blobs cost 20,000
    reads and polls, 0.16 s of a first commit's hook, measured)."""
    ids = sorted(set(blobs))
    if not ids:
        return {}
    out = run(["cat-file", "--buffer", "--batch-check=%(objectname) %(objecttype) %(objectsize)"],
              cwd=cwd, input="".join(b + "\n" for b in ids).encode())
    sizes = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1] == "blob":
            sizes[fields[0]] = int(fields[2])
    return sizes


def small_blobs(cwd: Path, blobs: Iterable[str]) -> set[str]:
    """The blobs small enough to be pointers."""
    return {blob for blob, size in blob_sizes(cwd, blobs).items() if size < MAX_POINTER_SIZE}


def cat_batch(cwd: Path, names: Sequence[str]) -> list[bytes | None]:
    """Contents of objects (ids or `REV:PATH`), in order, with one `git cat-file --batch`;
    None where the name resolves to nothing or to something that is not a blob."""
    if not names:
        return []
    proc = subprocess.run(["git", "cat-file", "--batch", "--buffer"], cwd=cwd, capture_output=True,
                          input="".join(n + "\n" for n in names).encode())
    out, pos = proc.stdout, 0
    result: list[bytes | None] = []
    for _ in names:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if header[-1] in (b"missing", b"ambiguous"):  # "NAME missing"
            result.append(None)
            continue
        size = int(header[2])
        result.append(out[pos:pos + size] if header[1] == b"blob" else None)
        pos += size + 1
    return result


def read_blobs(cwd: Path, blobs: Iterable[str]) -> dict[str, bytes]:
    """Contents of small blobs, by id."""
    ids = sorted(blobs)
    return {blob: data for blob, data in zip(ids, cat_batch(cwd, ids))
            if data is not None and len(data) < MAX_POINTER_SIZE}
