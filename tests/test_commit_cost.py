"""Per-commit cost (issue 17): what a commit that touches no stage may skip, and what it may not.

The pre-commit shim answers without starting Python only when it is sure (no stage
declared, every staged tracked blob a canonical pointer); a re-clean whose stat data
matches reads the stream as the expected chunks; the stat cache leaves an unchanged row
alone. Each shortcut must give what the long way gives.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from conftest import git
from gitmodel.commands.hooks import install_hooks
from gitmodel.git.repo import Repo
from gitmodel.store import layout
from gitmodel.store.objects import Manifest, Store
from gitmodel.store.pointer import parse
from gitmodel.store.statcache import StatCache

VERSION = b"version https://git-lfs.github.com/spec/v1\n"
OID = b"oid sha256:" + b"ab" * 32 + b"\n"


def _spied(repo: Path, tmp_path: Path) -> Path:
    """Hooks whose git-model is a wrapper logging each call: the log shows when the
    shim started git-model (Python) and when it answered alone."""
    log = tmp_path / "calls.log"
    spy = tmp_path / "git-model-spy"
    spy.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {shutil.which("git-model")} "$@"\n')
    spy.chmod(0o755)
    install_hooks(Repo.discover(repo), str(spy))
    return log


def _calls(log: Path) -> list[str]:
    calls = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return calls


def test_a_commit_of_pointers_without_stages_starts_no_python(repo, tmp_path):
    (repo / ".gitmodel").write_text('[core]\n\tremote = shared\n[remote "shared"]\n\turl = /nowhere\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "setup")  # the first commit (no HEAD): git-model decides
    log = _spied(repo, tmp_path)
    (repo / "model.bin").write_bytes(os.urandom(3000))
    (repo / "empty.bin").write_bytes(b"")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "models")
    assert _calls(log) == []
    assert parse(git(repo, "cat-file", "blob", "HEAD:model.bin").stdout).size == 3000
    (repo / ".gitmodel").write_text('[stage "train"]\n\tcmd = true\n\touts = model.bin\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a stage", check=False)
    assert _calls(log) == ["hook pre-commit"]  # a stage may have to run: Python decides


@pytest.mark.parametrize("blob", [
    b"raw model bytes\n",
    VERSION + OID + b"size 5\r\n",                                # CRLF
    VERSION + OID + b"size 5",                                    # no final newline
    VERSION + OID + b"size 05\n",                                 # a leading zero
    VERSION + OID + b"size 0\n",                                  # size 0 names no content
    VERSION + OID.upper().replace(b"OID SHA256", b"oid sha256") + b"size 5\n",
    VERSION + OID + b"size 5\next x\n",                           # an extra line
    VERSION + OID + b"size 9999999999999999999\n",                # past 2**63
    VERSION + OID + b"size 5\n" + os.urandom(2000),               # a pointer, then content
], ids=["raw", "crlf", "no-newline", "zero-padded", "size-0", "upper-oid", "extra-key",
        "huge", "long"])
def test_anything_but_a_pointer_staged_reaches_git_model_and_is_refused(repo, tmp_path, blob):
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "setup")
    log = _spied(repo, tmp_path)
    (tmp_path / "blob").write_bytes(blob)
    oid = git(repo, "hash-object", "-w", "--no-filters", str(tmp_path / "blob")).stdout.decode().strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"100644,{oid},model.bin")
    commit = git(repo, "commit", "-qm", "raw", check=False)
    assert _calls(log) == ["hook pre-commit"]
    assert commit.returncode == 1 and "would store 1 tracked model file(s) raw" in commit.stderr.decode()


def _committed_and_spied(repo: Path, tmp_path: Path) -> tuple[Path, str, str]:
    """A first commit, spied hooks (their log), and two blobs to stage by hand: a
    canonical pointer's and raw content's."""
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "setup")
    log = _spied(repo, tmp_path)
    blobs = []
    for name, data in (("pointer", VERSION + OID + b"size 5\n"), ("raw", b"raw model bytes\n")):
        (tmp_path / name).write_bytes(data)
        blobs.append(git(repo, "hash-object", "-w", "--no-filters", str(tmp_path / name))
                     .stdout.decode().strip())
    return log, blobs[0], blobs[1]


def test_the_shim_reads_every_staged_line_up_to_1000(repo, tmp_path):
    """The shim splits git's staged list itself: 1,000 pointers (paths with spaces, a new
    file and a modified one) pass without Python; a raw blob in last place, or a symlink's
    target beside them, is still seen."""
    log, blob, raw = _committed_and_spied(repo, tmp_path)
    rows = "".join(f"100644 {blob}\td {i % 3}/f {i:04}.bin\n" for i in range(1000))
    git(repo, "update-index", "--index-info", input=rows.encode())
    git(repo, "commit", "-qm", "1,000 pointers")
    assert _calls(log) == []
    rows = f"100644 {blob}\td 0/f 0000.bin\n120000 {raw}\tlink.bin\n100755 {raw}\td 2/z last.bin\n"
    git(repo, "update-index", "--index-info", input=rows.encode())
    commit = git(repo, "commit", "-qm", "raw last", check=False)
    assert _calls(log) == ["hook pre-commit"]
    assert commit.returncode == 1 and "would store 1 tracked model file(s) raw" in commit.stderr.decode()


def test_past_1000_staged_model_files_git_model_checks_them_and_still_refuses_raw(repo, tmp_path):
    """The shim reads staged blobs itself only up to 1,000 (~45 us each); past that it
    leaves the check to git-model (its pointer cache), which must refuse a raw one as well."""
    log, blob, raw = _committed_and_spied(repo, tmp_path)
    rows = "".join(f"100644 {blob}\tf{i:04}.bin\n" for i in range(1001))
    git(repo, "update-index", "--index-info", input=rows.encode())
    git(repo, "commit", "-qm", "1,001 pointers")
    assert _calls(log) == ["hook pre-commit"]
    rows = "".join(f"100644 {blob if i else raw}\tg{i:04}.bin\n" for i in range(1001))
    git(repo, "update-index", "--index-info", input=rows.encode())
    commit = git(repo, "commit", "-qm", "one raw among them", check=False)
    assert _calls(log) == ["hook pre-commit"]
    assert commit.returncode == 1 and "would store 1 tracked model file(s) raw" in commit.stderr.decode()


# -- the re-clean of a file whose stat data matches (Store.add_stream(exact=True)) -------------
def _content(store: Store, manifest: Manifest) -> bytes:
    out = io.BytesIO()
    store.write_to(manifest.pointer, out)
    return out.getvalue()


def _old() -> bytes:
    return hashlib.shake_256(b"v0").digest(3 << 20)  # ~48 content-defined chunks


CHANGES = {
    "same": lambda old: old,
    "middle": lambda old: old[:1 << 20] + bytes(4096) + old[(1 << 20) + 4096:],
    "longer": lambda old: old + b"x",
    "shorter": lambda old: old[:-1],
    "first": lambda old: b"y" + old[1:],
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_an_exact_reclean_of_changed_content_adds_the_new_content(tmp_path, change):
    """The stat cache can be wrong (a rewrite within one timestamp tick): what the stream
    holds is stored, as a plain add would store it."""
    store = Store(tmp_path / "store")
    old = _old()
    before = store.add_stream(io.BytesIO(old), name="m.bin")
    new = CHANGES[change](old)
    after = store.add_stream(io.BytesIO(new), before, "m.bin", exact=True)
    assert after == Store(tmp_path / "plain").add_stream(io.BytesIO(new), name="m.bin")
    assert _content(store, after) == new


def test_an_exact_reclean_writes_again_a_chunk_gc_deleted(tmp_path):
    store = Store(tmp_path / "store")
    old = _old()
    manifest = store.add_stream(io.BytesIO(old), name="m.bin")
    cid = manifest.chunks[len(manifest.chunks) // 2][0]
    store.chunk_path(cid).unlink()
    store.manifest_path(manifest.oid).unlink()
    assert store.add_stream(io.BytesIO(old), manifest, "m.bin", exact=True) == manifest
    assert store.has_object(manifest.pointer) and _content(store, manifest) == old


def test_the_stat_cache_writes_a_row_again_once_it_changed_in_between(tmp_path):
    """An unchanged row is not written again; a row recorded, changed and recorded back is."""
    path = tmp_path / "state.sqlite"
    st = os.stat(tmp_path)
    first = StatCache(path)
    first.record("m.bin", st, "a" * 64)
    first.close()
    cache = StatCache(path)
    assert cache.lookup("m.bin", st) == ("a" * 64, True)
    cache.record("m.bin", st, "a" * 64)   # as stored: skipped
    cache.record("m.bin", st, "b" * 64)
    cache.flush()
    cache.record("m.bin", st, "a" * 64)   # as first read, but no longer as stored
    cache.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT oid FROM stat WHERE path = 'm.bin'").fetchall() == [("a" * 64,)]


def test_an_exact_reclean_of_small_files_dates_their_pack(tmp_path):
    """Small files live in a pack: re-cleaning them dates it (gc's grace period then covers
    what git is about to record), whether the add was long ago or not."""
    store = Store(tmp_path / "store")
    files = [hashlib.shake_256(b"small %d" % i).digest(64 << 10) for i in range(3)]
    with store.batch():
        manifests = [store.add_stream(io.BytesIO(data), name="s.bin", size=len(data)) for data in files]
    (pack,) = store.packs.pack_names()
    os.utime(store.packs.path(pack), (1e9, 1e9))
    again = Store(tmp_path / "store")
    with again.batch():
        for data, manifest in zip(files, manifests):
            assert again.add_stream(io.BytesIO(data), manifest, "s.bin", size=len(data),
                                    exact=True) == manifest
    assert os.stat(store.packs.path(pack)).st_mtime > 1e9 + 86400
    assert store.packs.pack_names() == [pack]  # nothing was written again


def test_a_file_rewritten_in_place_keeps_one_whole_copy(repo):
    """A checkpoint saved over the last one is one inode: its older kept copies are stale
    and go, instead of piling up two files a commit for every add to scan."""
    model = repo / "model.bin"
    versions = [hashlib.shake_256(b"ckpt %d" % i).digest(2 << 20) for i in range(4)]
    for i, data in enumerate(versions):
        with open(model, "r+b" if model.exists() else "wb") as handle:  # the same inode
            handle.write(data)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"v{i}")
    kept = sorted(p.name for p in (repo / ".git" / "model-whole").iterdir())
    assert len(kept) == 2 and kept[1] == kept[0] + ".json", kept
    git(repo, "checkout", "-q", "HEAD~2")
    assert model.read_bytes() == versions[1]
    git(repo, "checkout", "-q", "-")
    assert model.read_bytes() == versions[3]


def test_a_store_sees_the_packs_it_publishes_and_forgets_removed_ones(tmp_path):
    """A pack published after the first look joins the objects already known (not a
    re-read of every index); a pack taken away takes its objects along."""
    store = Store(tmp_path / "store")
    files = [hashlib.shake_256(b"file %d" % i).digest(64 << 10) for i in range(2)]
    manifests = []
    for data in files:  # one pack each, seen by the same store
        with store.batch():
            manifests.append(store.add_stream(io.BytesIO(data), name="f.bin", size=len(data)))
    assert all(store.has_object(m.pointer) for m in manifests)
    assert len(store.packs.pack_names()) == 2
    first = store.packs.locate((layout.MANIFESTS, manifests[0].oid))[0]
    for ext in ("idx", "pack"):
        store.packs.path(first, ext).unlink()
    store.packs.refresh(force=True)
    assert [store.has_object(m.pointer) for m in manifests] == [False, True]
    assert _content(store, manifests[1]) == files[1]
