"""Fast tier: git's index file, read and rewritten by gitmodel.index, checked against git itself.

`git ls-files --debug` prints the stat data git reads from each entry, so every
version of the format (2, 3 with extended flags, 4 with prefix-compressed
names) and both hash sizes are compared field by field; after a rewrite, git
must still accept the index (it verifies the trailing checksum on every read).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from conftest import git
from gitmodel.git import index

NAMES = ["a", "d/e/long-name-file.txt", "d/e/long-name-other.txt", "d/f", "z with space"]


def ls_files_debug(repo: Path) -> dict[str, tuple[int, ...]]:
    """path -> (ctime s, ns, mtime s, ns, dev, ino, uid, gid, size), as git reads them."""
    text = git(repo, "ls-files", "--debug").stdout.decode()
    entries = {}
    for block in re.split(r"\n(?=\S)", text.strip()):
        path, _, rest = block.partition("\n")
        entries[path] = tuple(int(n) for n in re.findall(r"\d+", rest)[:9])
    return entries


def stat_fields(entry: index.RawEntry) -> tuple[int, ...]:
    ctime_s, ctime_ns, mtime_s, mtime_ns, dev, ino, _mode, uid, gid, size = entry.stat
    return ctime_s, ctime_ns, mtime_s, mtime_ns, dev, ino, uid, gid, size


def make_repo(tmp_path: Path, version: int, object_format: str) -> Path:
    repo = tmp_path / f"v{version}-{object_format}"
    repo.mkdir()
    git(repo, "init", "-q", f"--object-format={object_format}")
    for name in NAMES:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(name * 3)
    git(repo, "add", *NAMES[:-1])
    if version >= 3:  # intent-to-add is an extended flag, which version 2 cannot hold
        git(repo, "add", "-N", NAMES[-1])
    else:
        git(repo, "add", NAMES[-1])
    git(repo, "update-index", "--index-version", str(version))
    return repo


def hash_len(object_format: str) -> int:
    return 32 if object_format == "sha256" else 20


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
@pytest.mark.parametrize("version", [2, 3, 4])
def test_reader_matches_git_ls_files_debug(tmp_path, version, object_format):
    repo = make_repo(tmp_path, version, object_format)
    data = (repo / ".git/index").read_bytes()
    assert int.from_bytes(data[4:8], "big") == version
    entries = index.parse(data, hash_len(object_format))
    assert [e.path for e in entries] == NAMES
    assert {e.path: stat_fields(e) for e in entries} == ls_files_debug(repo)
    staged = git(repo, "ls-files", "-s", "-z").stdout.decode().split("\0")[:-1]
    assert [e.oid.hex() for e in entries] == [line.split()[1] for line in staged]


@pytest.mark.parametrize("version", [2, 3, 4])
def test_reader_finds_a_name_too_long_for_its_length_field(tmp_path, version):
    """A name of 4,095 bytes or more is marked so in the flags (git's CE_NAMEMASK) and ends
    at its NUL; `keep` sees every name and mtime, and drops what it refuses."""
    repo = make_repo(tmp_path, version, "sha1")
    long_name = "/".join(["x" * 254] * 17)  # 4,334 bytes: no file needed in the index
    blob = git(repo, "hash-object", "-w", "--stdin", input=b"long").stdout.decode().strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{long_name}")
    data = (repo / ".git/index").read_bytes()
    entries = index.parse(data, 20)
    assert [e.path for e in entries] == sorted(NAMES[:-1] + [long_name]) + [NAMES[-1]]
    assert next(e for e in entries if e.path == long_name).oid.hex() == blob
    seen: list[tuple[bytes, int]] = []
    kept = index.parse(data, 20, lambda name, mtime, _: seen.append((name, mtime)) or name == b"d/f")
    assert [e.path for e in kept] == ["d/f"] and len(seen) == len(entries)
    assert [m for _, m in seen] == [e.mtime_sec for e in entries]
    for limit in (1, 50):  # the entry --cacheinfo adds records size 0; those after it still read
        assert index.recorded_below(repo / ".git/index", 20, limit) == {
            e.path for e in entries if e.stat[9] < limit}


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
@pytest.mark.parametrize("version", [2, 3, 4])
def test_recorded_below_names_the_entries_git_records_that_small(tmp_path, version, object_format):
    """The skipping reader (names decoded only for small entries) agrees with git's sizes."""
    repo = make_repo(tmp_path, version, object_format)
    sizes = {path: fields[-1] for path, fields in ls_files_debug(repo).items()}
    for limit in (0, 4, 50, 1 << 20):
        assert index.recorded_below(repo / ".git/index", hash_len(object_format), limit) \
            == {path for path, size in sizes.items() if size < limit}, limit


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
@pytest.mark.parametrize("version", [3, 4])
def test_settle_rewrites_racy_entries_as_git_reads_them(tmp_path, version, object_format):
    repo = make_repo(tmp_path, version, object_format)
    index_path = repo / ".git/index"
    newest = max(os.stat(repo / n).st_mtime_ns for n in NAMES)
    os.utime(index_path, ns=(newest, newest))  # every entry is now racily clean
    confirmed = {"a", "d/f"}
    asked: list[list[str]] = []

    def confirm(racy: list[index.RawEntry]) -> set[str]:
        asked.append([e.path for e in racy])
        return confirmed & {e.path for e in racy}

    assert index.settle(index_path, repo, hash_len(object_format), confirm) == len(confirmed)
    assert asked == [sorted(NAMES[:-1])]  # the intent-to-add entry has no stat data to match
    seen = ls_files_debug(repo)  # git re-reads the index: its checksum holds
    for name in NAMES:
        st = os.stat(repo / name)
        if name in confirmed:  # dated back, and the entry records the file as it is now
            assert st.st_mtime_ns < newest
            assert seen[name][2:4] == (st.st_mtime_ns // 10**9, st.st_mtime_ns % 10**9)
            assert seen[name][8] == st.st_size
        else:  # git's own treatment of a racy entry it cannot vouch for: size 0
            assert seen[name][8] == 0
    parsed = index.parse(index_path.read_bytes(), hash_len(object_format))
    assert [e.path for e in parsed] == NAMES
    status = git(repo, "status", "--porcelain", "-z", "--untracked-files=no").stdout.decode()
    assert status.split("\0")[:-1] == [f"A  {n}" for n in NAMES[:-1]] + [f" A {NAMES[-1]}"]


def test_settle_gives_up_while_git_holds_the_lock(tmp_path):
    repo = make_repo(tmp_path, 3, "sha1")
    index_path = repo / ".git/index"
    newest = max(os.stat(repo / n).st_mtime_ns for n in NAMES)
    os.utime(index_path, ns=(newest, newest))
    before = index_path.read_bytes()
    (repo / ".git/index.lock").write_bytes(b"")
    with pytest.raises(index.Unsupported):
        index.settle(index_path, repo, 20, set)
    assert index_path.read_bytes() == before


def test_settle_holds_the_lock_from_its_read_to_its_write(tmp_path):
    """A git write during a settle is refused (git waits or says so), never silently lost."""
    repo = make_repo(tmp_path, 3, "sha1")
    index_path = repo / ".git/index"
    newest = max(os.stat(repo / n).st_mtime_ns for n in NAMES)
    os.utime(index_path, ns=(newest, newest))
    (repo / "late").write_text("late")
    refused = []

    def confirm(racy: list[index.RawEntry]) -> set[str]:
        assert (repo / ".git/index.lock").exists()
        refused.append(git(repo, "add", "late", check=False).returncode)
        return {e.path for e in racy}

    index.settle(index_path, repo, 20, confirm)
    assert refused == [128]
    assert not (repo / ".git/index.lock").exists()
    git(repo, "add", "late")  # after the settle, git's write goes through and stays
    assert "late" in git(repo, "ls-files").stdout.decode().split()


@pytest.mark.parametrize("data", [b"", b"DIRX" + bytes(8), b"DIRC\0\0\0\x05" + bytes(4)])
def test_reader_rejects_what_is_not_a_supported_index(data):
    with pytest.raises(index.Unsupported):
        index.parse(data, 20)
