"""Costs that follow the change, not the repository (issue 17), counted rather than timed.

The number of git processes does not depend on the machine: `git model status` starts
the same few whatever the number of files (timings are bench/'s).
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

from conftest import copy, git, gm


def _files(repo: Path, count: int, version: int = 0, every: int = 1) -> None:
    """Files dated an hour back: their index entries are never racily clean, so `git status`
    does not start the filter to re-check them (that would add processes by chance)."""
    past = time.time() - 3600 + 60 * version  # a new version: another mtime, seen as changed
    for i in range(0, count, every):
        path = repo / f"f{i:03d}.bin"
        path.write_bytes(os.urandom(1500) + bytes([version]))
        os.utime(path, (past, past))


def _git_commands(repo: Path, tmp_path: Path, *args: str) -> list[str]:
    trace = tmp_path / "trace"
    trace.unlink(missing_ok=True)
    gm(repo, *args, env=dict(os.environ, GIT_TRACE=str(trace)))
    commands = [line.split("trace: built-in: ", 1)[1] for line in trace.read_text().splitlines()
                if "trace: built-in: " in line]
    # git-model finds its repository once; a later discovery is a filter process that git
    # status started for an entry it found racy (by the clock, not by the file count)
    return [c for i, c in enumerate(commands) if c not in commands[:i] or not c.startswith(
        ("git rev-parse --path-format=absolute", "git config -z --list"))]


def test_status_starts_the_same_git_processes_for_2_or_20_files(repo, tmp_path):
    counts = []
    for count in (2, 20):
        _files(repo, count)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"{count} files")
        assert b"all committed" in gm(repo, "status").stdout
        counts.append(_git_commands(repo, tmp_path, "status"))
    assert len(counts[0]) == len(counts[1]), counts
    _files(repo, 20, version=1, every=10)
    out = gm(repo, "status").stdout.decode()
    assert "not staged" in out and "\tf000.bin" in out and "\tf010.bin" in out
    git(repo, "add", "f000.bin")
    out = gm(repo, "status").stdout.decode()
    assert "to be committed:\n\tf000.bin" in out and "\tf010.bin" in out



def test_status_reads_heads_raw_blob_only_for_staged_paths(plain_repo):
    """Status takes HEAD's raw blobs from the index for paths not staged, HEAD's tree for
    staged ones: both sides of a file being turned into a pointer are still named."""
    repo = plain_repo
    gm(repo, "install", "--local")
    (repo / "a.bin").write_bytes(os.urandom(3000))
    (repo / "b.bin").write_bytes(os.urandom(3000))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "raw")
    gm(repo, "track", "*.bin")
    git(repo, "add", "a.bin")
    out = gm(repo, "status").stdout.decode()
    assert "a.bin (index: pointer, HEAD: raw blob)" in out, out
    assert "b.bin (index: raw blob, HEAD: raw blob)" in out, out


def test_status_survives_a_damaged_pointer_blob_cache(repo):
    """The cache of pointer blobs is a hint: garbage in it costs a re-read, not a wrong answer."""
    _files(repo, 3)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v0")
    before = gm(repo, "ls-files").stdout
    cache = repo / ".git" / "model" / "pointer-blobs.sqlite"
    assert cache.exists()
    for extra in cache.parent.glob("pointer-blobs.sqlite-*"):
        extra.unlink()
    cache.write_bytes(b"not a database" * 100)
    assert gm(repo, "ls-files").stdout == before
    assert b"all committed" in gm(repo, "status").stdout


def test_log_without_stages_or_path_lists_every_model_files_history(repo):
    _files(repo, 2)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first models")
    (repo / "notes.txt").write_text("not a model\n")
    git(repo, "add", "notes.txt")
    git(repo, "commit", "-qm", "notes only")
    _files(repo, 2, version=1, every=2)
    git(repo, "rm", "-q", "f001.bin")
    git(repo, "commit", "-qam", "second model")
    out = gm(repo, "log").stdout.decode().splitlines()
    assert [line.split(" ", 1)[1] for line in out if not line.startswith(" ")] == [
        "second model", "first models"], out
    assert [line.split()[0] for line in out if line.startswith(" ")] == [
        "f000.bin", "f000.bin", "f001.bin"], out
    assert len(gm(repo, "log", "-n", "1").stdout.decode().splitlines()) == 2


def test_stat_cache_batches_its_writes_and_keeps_them(tmp_path):
    """Records are written in batches: seen at once by this process, by others after close."""
    from gitmodel.store.statcache import StatCache
    db, target = tmp_path / "state.sqlite", tmp_path / "f.bin"
    target.write_bytes(b"x")
    st = os.stat(target)
    cache = StatCache(db)
    cache.record("f.bin", st, "a" * 64)
    cache.record("g.bin", None, "b" * 64)
    other = StatCache(db)
    assert other.expected_oid("f.bin", st) is None  # not written yet: one transaction per batch
    assert cache.expected_oid("f.bin", st) == "a" * 64 and cache.expected_oid("g.bin", st) == "b" * 64
    cache.close()
    assert other.expected_oid("f.bin", st) == "a" * 64
    assert other.expected_oid("g.bin", None) == "b" * 64
    other.close()


def test_a_checkout_starts_the_same_processes_for_2_or_20_changed_files(repo, tmp_path):
    """`git checkout` of small models (streamed by the filter, settled by it once git exits):
    git, its filter and the filter's two look-ups, whatever the change; no hook process
    starts git or Python, and `git status` after it re-cleans nothing."""
    _files(repo, 30)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v0")
    for version, every in ((1, 15), (2, 1)):  # 2 files differ, then 20 more (all 30)
        _files(repo, 30, version, every)
        git(repo, "commit", "-qam", f"v{version}")
    seen = []
    trace = tmp_path / "trace"
    for rev in ("main~1", "main~2"):  # v2 -> v1: all 30 differ; v1 -> v0: 2 differ
        trace.unlink(missing_ok=True)
        git(repo, "checkout", "-q", rev, env=dict(os.environ, GIT_TRACE=str(trace)))
        seen.append([line.split("trace: ", 1)[1].split(":", 1)[0] for line in
                     trace.read_text().splitlines() if "trace: built-in:" in line
                     or "trace: exec:" in line or "trace: run_command:" in line])
        trace.unlink()
        assert git(repo, "status", "--porcelain", env=dict(os.environ, GIT_TRACE=str(trace))
                   ).stdout == b""
        assert "filter-process" not in trace.read_text()
    assert seen[0] == seen[1], seen
    assert seen[0].count("built-in") == 2, seen  # checkout, and the filter's config


def test_status_names_the_files_left_as_pointers(repo, tmp_path):
    """A clone made before `git model install` holds pointer texts: status names those files
    (found by the sizes git's index records) and stops naming one once its content is back."""
    _files(repo, 3)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v0")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    gm(clone, "install", "--local")
    out = gm(clone, "status").stdout.decode()
    left = out.split("(git model checkout, or git model pull):\n")[1].split("\n")
    assert [line.split(" ")[0] for line in left[:4]] == ["\tf000.bin", "\tf001.bin", "\tf002.bin",
                                                          "Objects"], out
    copy(repo / "f001.bin", clone / "f001.bin")
    git(clone, "add", "f001.bin")  # the same pointer: only the index's stat data change
    out = gm(clone, "status").stdout.decode()
    assert "\tf000.bin (" in out and "\tf002.bin (" in out and "f001.bin" not in out, out


def _settled_long_ago(repo: Path) -> None:
    """Date what status's cache is keyed by and changed in the last minute an hour back, as
    if nothing had moved since: without that the cache keeps nothing (a stamp under 2 s old
    may still change unseen). What did not change keeps its date, so its stamp too."""
    model = repo / ".git" / "model"
    now = time.time()
    stamped = [model / "objects" / "packs", model / "objects" / "manifests",
               model / "remotes.sqlite", model / "remotes.sqlite-wal"]
    stamped += [p for p in (model / "objects" / "manifests").glob("*") if p.is_dir()]
    for path in stamped:
        if path.exists() and path.stat().st_mtime > now - 60:
            os.utime(path, (now - 3600, now - 3600))


def _status(repo: Path) -> dict:
    return json.loads(gm(repo, "status", "--json").stdout)


def _kept(repo: Path) -> dict:
    """Status, after it kept its answer for this state (and a second status used it)."""
    for _ in range(2):  # the record's first reader may make its WAL file: a new stamp
        _settled_long_ago(repo)
        first = _status(repo)
    kept = (repo / ".git" / "model-status.json").read_text()
    _settled_long_ago(repo)
    assert _status(repo) == first and (repo / ".git" / "model-status.json").read_text() == kept
    return first


def test_status_cache_follows_the_index_the_store_the_record_and_the_remote(repo, tmp_path):
    """A status kept (commands/statuscache.py) is used only while every input it depends on
    is unchanged: each change below must show in the next status, not the kept answer."""
    _files(repo, 3)
    gm(repo, "remote", "add", "shared", str(tmp_path / "models"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v0")
    gm(repo, "push")
    later = time.time() + 5  # as the push left it, however long this machine took since
    os.utime(repo / ".git" / "model" / "remotes.sqlite", (later, later))
    assert _status(repo)["clean"]
    assert not (repo / ".git" / "model-status.json").exists(), "fresh stamps: nothing kept"
    assert _kept(repo)["clean"]

    # the record of what the remote has: one object found gone from it (as a push does)
    from gitmodel.transfer.engine import Known
    oid = json.loads(gm(repo, "ls-files", "--json").stdout)[0]["oid"]
    known = Known(repo / ".git" / "model", str(tmp_path / "models"))
    known.forget([oid])
    known.close()
    _settled_long_ago(repo)
    assert [e["oid"] for e in _status(repo)["unpushed"]] == [oid]
    gm(repo, "push", "--verify")  # finds it there again
    assert _kept(repo)["clean"]

    # the remote: another default, which has nothing
    gm(repo, "remote", "add", "other", str(tmp_path / "other"))
    gm(repo, "remote", "set-default", "other")
    _settled_long_ago(repo)
    status = _status(repo)
    assert status["remote"] == "other" and len(status["unpushed"]) == 3, status
    gm(repo, "remote", "set-default", "shared")
    assert _kept(repo)["clean"]

    # the store: its pack gone
    for path in (repo / ".git/model/objects/packs").glob("pack-*"):
        path.rename(tmp_path / path.name)
    _settled_long_ago(repo)
    assert len(_status(repo)["not_cached"]) == 3
    for path in tmp_path.glob("pack-*"):
        path.rename(repo / ".git/model/objects/packs" / path.name)
    assert _kept(repo)["clean"]

    # the index: a new version staged, then committed (not pushed)
    _files(repo, 3, version=1, every=2)
    git(repo, "add", "-A")
    _settled_long_ago(repo)
    status = _status(repo)
    assert status["staged"] == ["f000.bin", "f002.bin"] and len(status["unpushed"]) == 2, status
    git(repo, "commit", "-qm", "v1")
    assert [e["path"] for e in _kept(repo)["unpushed"]] == ["f000.bin", "f002.bin"]
    git(repo, "checkout", "HEAD~1", "--", "f000.bin")  # back to a pushed version: the index
    git(repo, "commit", "-qm", "v0 of f000")  # alone changes, the cache and the record do not
    _settled_long_ago(repo)
    assert [e["path"] for e in _status(repo)["unpushed"]] == ["f002.bin"]


def test_stat_cache_reads_its_table_whole_after_many_lookups(tmp_path):
    """Past LOOKUPS_BEFORE_WHOLE lookups the table is read once, when it has at most
    ROWS_PER_LOOKUP rows per lookup so far (checked as the lookups double): the same answers
    as a query per path, its own later records included; a table past READ_WHOLE rows is not."""
    from gitmodel.store.statcache import StatCache
    db, target = tmp_path / "state.sqlite", tmp_path / "f.bin"
    target.write_bytes(b"x")
    st = os.stat(target)
    writer = StatCache(db)
    for i in range(2000):
        writer.record(f"p{i}.bin", st if i % 2 else None, f"{i:064x}")
    writer.close()
    # 2,000 rows: 100 lookups (16 x 64 < 2,000) keep querying, the 129th reads it whole
    for lookups, limit, whole in ((100, 100_000, False), (200, 100_000, True), (200, 50, False)):
        cache = StatCache(db)
        cache.READ_WHOLE = limit
        answers = [cache.expected_oid(f"p{i}.bin", st) for i in range(lookups)]
        assert answers == [f"{i:064x}" for i in range(lookups)]
        assert (cache._rows is not None) == whole
        assert cache.expected_oid("p1.bin", os.stat(db)) is None  # another stat: no match
        cache.record("new.bin", st, "c" * 64)
        cache.flush()
        assert cache.expected_oid("new.bin", st) == "c" * 64 and cache.expected_oid("nope", st) is None
        cache.close()


def test_status_after_a_push_trusts_the_settled_record_only_while_it_holds(repo, tmp_path):
    """A push records the blobs whose objects it settled (commands/settled.py) and status
    skips looking those up, but a loose manifest gone, a pack gone, the remote found
    without an object, or a damaged record each show in the next status."""
    from gitmodel.transfer.engine import Known
    _files(repo, 2)
    big = repo / "big.bin"
    big.write_bytes(os.urandom((1 << 20) + 1000))  # above PACKED_BELOW: a loose manifest
    os.utime(big, (time.time() - 3600,) * 2)  # not racy: git status never re-cleans it
    gm(repo, "remote", "add", "shared", str(tmp_path / "models"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v0")
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(repo, "push", "-q", str(tmp_path / "origin.git"), "HEAD:refs/heads/main")  # pre-push
    model = repo / ".git" / "model"
    assert len(list(model.glob("settled-*"))) == 1, "the push recorded what it settled"
    assert _whole(repo), "every model file of the index was pushed"
    assert _status(repo)["clean"]
    oids = {e["path"]: e["oid"] for e in json.loads(gm(repo, "ls-files", "--json").stdout)}

    manifest = model / "objects" / "manifests" / oids["big.bin"][:2] / oids["big.bin"]
    manifest.rename(tmp_path / "manifest")
    assert [e["path"] for e in _status(repo)["not_cached"]] == ["big.bin"]
    (tmp_path / "manifest").rename(manifest)
    assert _status(repo)["clean"]

    packs = list((model / "objects" / "packs").glob("pack-*"))
    for path in packs:
        path.rename(tmp_path / path.name)
    assert sorted(e["path"] for e in _status(repo)["not_cached"]) == ["f000.bin", "f001.bin"]
    for path in packs:
        (tmp_path / path.name).rename(path)
    assert _status(repo)["clean"]

    known = Known(model, str(tmp_path / "models"))
    known.forget([oids["f001.bin"]])  # what a push does when the remote lost an object
    known.close()
    assert [e["path"] for e in _status(repo)["unpushed"]] == ["f001.bin"]
    gm(repo, "push", "--verify")  # finds it there again
    assert _status(repo)["clean"]

    for record in model.glob("settled-*"):
        record.write_text("gitmodel-settled 1\nnot this one\n")
    assert _status(repo)["clean"]

    (repo / "f001.bin").write_bytes(b"staged, not pushed" * 100)
    (repo / "f000.bin").write_bytes(b"committed, pushed" * 100)
    git(repo, "add", "f001.bin")
    git(repo, "commit", "-qm", "v1 of f000", "f000.bin")  # f001 stays staged
    git(repo, "push", "-q", str(tmp_path / "origin.git"), "HEAD:refs/heads/main")
    assert not _whole(repo), "the index holds an object the push did not send"
    status = _status(repo)
    assert status["staged"] == ["f001.bin"] and [e["path"] for e in status["unpushed"]] == ["f001.bin"]


def _whole(repo: Path) -> bool:
    """Whether the settled record names the index's model listing as settled whole."""
    listing = git(repo, "ls-files", "-s", "-z", "--full-name", "--", ":(attr:filter=model)").stdout
    [record] = (repo / ".git" / "model").glob("settled-*")
    return record.read_text().split("\n")[4] == hashlib.blake2b(listing, digest_size=16).hexdigest()


def test_pointer_blob_cache_reads_only_rows_that_can_be_pointers(tmp_path):
    """Rows of a damaged cache (a bad oid, a size no file has) are left out, the rest read,
    by the scan of many ids and by the look-up of a few alike."""
    from gitmodel.git.blobcache import PointerBlobs
    from gitmodel.store.pointer import Pointer
    good = {f"{i:040x}": Pointer(f"{i:064x}", 10 + i) for i in range(300)}
    cache = PointerBlobs(tmp_path / "pointer-blobs.sqlite")
    cache.put(good)
    cache.close()
    with sqlite3.connect(tmp_path / "pointer-blobs.sqlite") as db:
        db.executemany("INSERT INTO pointer VALUES (?, ?, ?)", [
            ("b" * 40, "A" * 64, 5), ("c" * 40, "a" * 63, 5), ("d" * 40, "a" * 64, 0),
            ("e" * 40, "a" * 64, "5x"), ("f" * 40, "../" + "a" * 61, 5)])
    wanted = [*good, *(ch * 40 for ch in "bcdef")]
    cache = PointerBlobs(tmp_path / "pointer-blobs.sqlite")
    try:
        assert cache.get(wanted) == {b: (p.oid, p.size) for b, p in good.items()}
        assert cache.get(["b" * 40, "f" * 40, f"{7:040x}"]) == {f"{7:040x}": (f"{7:064x}", 17)}
    finally:
        cache.close()
