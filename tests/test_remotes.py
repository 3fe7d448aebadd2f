"""Shared remotes over a local directory: config, push/pull/clone, hooks, resume, corruption."""
from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from conftest import copy, git, gm, novel_bytes
from gitmodel.git.repo import Repo
from gitmodel.store.objects import Store
from gitmodel.transfer import engine as transfer
from gitmodel.transfer import remotes
from test_faults import kill_at


def _random_file(path: Path, mib: int, seed: int) -> bytes:
    data = random.Random(seed).randbytes(mib << 20)
    path.write_bytes(data)
    return data


def _remote_files(store: Path, kind: str = "") -> list[Path]:
    return sorted(p for p in (store / kind).rglob("*") if p.is_file())


def _remote_bytes(store: Path) -> int:
    return sum(p.stat().st_size for p in _remote_files(store))


@pytest.fixture
def shared(tmp_path: Path, repo: Path) -> dict:
    """`repo` with a directory model remote and a bare git origin, ready to push."""
    store = tmp_path / "models"
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    gm(repo, "remote", "add", "shared", str(store))
    git(repo, "remote", "add", "origin", str(origin))
    return {"repo": repo, "store": store, "origin": origin, "tmp": tmp_path}


def _clone(env: dict, name: str = "clone") -> Path:
    target = env["tmp"] / name
    git(env["tmp"], "clone", "-q", str(env["origin"]), str(target))
    gm(target, "install", "--local")
    return target


def test_remote_config_commands(repo: Path) -> None:
    gm(repo, "remote", "add", "a", "/srv/a")
    gm(repo, "remote", "add", "b", "s3://bucket/prefix")
    git(repo, "config", "-f", ".gitmodel", "stage.train.cmd", "python train.py")  # another team's
    assert gm(repo, "remote", "list").stdout.decode().splitlines() == [
        "* a\t/srv/a", "  b\ts3://bucket/prefix"]
    gm(repo, "remote", "set-default", "b")
    assert git(repo, "config", "-f", ".gitmodel", "core.remote").stdout.strip() == b"b"
    git(repo, "config", "model.remote.b.url", "s3://other/place")  # per-clone override
    assert "  a\t/srv/a\n* b\ts3://other/place" in gm(repo, "remote", "list").stdout.decode()
    gm(repo, "remote", "remove", "b")
    assert git(repo, "config", "-f", ".gitmodel", "core.remote", check=False).returncode == 1
    assert git(repo, "config", "-f", ".gitmodel", "stage.train.cmd").stdout.strip() == b"python train.py"
    for args, message in [(("add", "a", "/x"), "already exists"),
                          (("add", "bad name", "/x"), "invalid"),
                          (("add", "c", "ftp://x/y"), "unsupported"),
                          (("set-default", "zz"), "no model remote")]:
        proc = gm(repo, "remote", *args, check=False)
        err = proc.stderr.decode()
        assert proc.returncode == 1 and message in err and len(err.strip().splitlines()) == 1, err


def test_password_is_never_printed(repo: Path) -> None:
    proc = gm(repo, "remote", "add", "s", "ssh://user:hunter2@127.0.0.1:1/srv", check=False)
    assert proc.returncode == 1 and "hunter2" not in proc.stderr.decode()  # never committed
    git(repo, "config", "model.remote.s.url", "ssh://user:hunter2@127.0.0.1:1/srv")
    assert "hunter2" not in gm(repo, "remote", "list").stdout.decode()
    proc = gm(repo, "push", check=False)
    assert proc.returncode == 1 and "hunter2" not in proc.stderr.decode() + proc.stdout.decode()


def test_push_hook_clone_pull_and_checkout_on_demand(shared: dict) -> None:
    repo, store = shared["repo"], shared["store"]
    v1 = _random_file(repo / "m.bin", 6, seed=1)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "v1")
    git(repo, "tag", "v1")
    assert "Not yet pushed" in gm(repo, "status").stdout.decode()
    git(repo, "push", "-q", "origin", "main", "--tags")  # the pre-push hook uploads
    assert "Not yet pushed" not in gm(repo, "status").stdout.decode()
    manifests = _remote_files(store, "manifests")
    assert len(manifests) == 1 and _remote_files(store, "chunks")
    assert not _remote_files(store, "tmp"), "no temporary file left behind"
    v2 = v1[: 3 << 20] + _random_file(repo / "extra", 1, seed=2) + v1[3 << 20:]
    (repo / "m.bin").write_bytes(v2)
    git(repo, "add", "m.bin")
    git(repo, "commit", "-qm", "v2")
    before = _remote_bytes(store)
    git(repo, "push", "-q", "origin", "main")
    assert _remote_bytes(store) - before < 3 << 20, "only the changed region moves"

    clone = _clone(shared)
    assert (clone / "m.bin").stat().st_size < 1024, "a plain clone has pointers"
    out = gm(clone, "pull").stdout.decode()
    assert "restored 1 file" in out
    assert (clone / "m.bin").read_bytes() == v2
    assert git(clone, "status", "--porcelain").stdout == b""
    git(clone, "checkout", "-q", "v1")  # v1's object is fetched by the smudge filter
    assert (clone / "m.bin").read_bytes() == v1
    assert git(clone, "status", "--porcelain").stdout == b""
    git(clone, "config", "model.fetchOnCheckout", "false")
    shutil.rmtree(clone / ".git" / "model")
    git(clone, "checkout", "-q", "main")
    assert (clone / "m.bin").stat().st_size < 1024, "no fetch when turned off"


def test_push_revs_fetch_include_and_up_to_date(shared: dict) -> None:
    repo = shared["repo"]
    _random_file(repo / "a.bin", 2, seed=3)
    _random_file(repo / "b.bin", 2, seed=4)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "two files")
    out = gm(repo, "push", "shared", "HEAD").stdout.decode()
    assert out.startswith("pushed 2 objects")
    assert "nothing to transfer" in gm(repo, "push").stdout.decode()
    git(repo, "push", "-q", "origin", "main")
    clone = _clone(shared)
    out = gm(clone, "fetch", "--include", "b.*").stdout.decode()
    assert out.startswith("fetched 1 object,")
    assert "* b.bin" in gm(clone, "ls-files").stdout.decode()
    assert "- a.bin" in gm(clone, "ls-files").stdout.decode()
    proc = gm(clone, "fetch", "nosuchrev", check=False)
    assert proc.returncode == 1 and "nor a revision" in proc.stderr.decode()


def test_failed_upload_fails_the_push(shared: dict) -> None:
    repo = shared["repo"]
    _random_file(repo / "m.bin", 1, seed=5)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "m")
    shared["store"].write_text("a file where the remote directory should be")
    proc = git(repo, "push", "origin", "main", check=False)
    assert proc.returncode != 0
    assert "model remote 'shared'" in proc.stderr.decode()
    assert git(shared["origin"], "rev-parse", "-q", "--verify", "main", check=False).returncode != 0


def test_interrupted_push_resumes(shared: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, store = shared["repo"], shared["store"]
    _random_file(repo / "m.bin", 8, seed=6)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "m")
    real_write = remotes.Backend.write
    calls = []

    def dying_write(self, key: str, data: bytes) -> None:
        if len(calls) >= 3:
            raise remotes.RemoteError("connection lost (simulated)")
        calls.append(key)
        real_write(self, key, data)

    monkeypatch.setattr(remotes.Backend, "write", dying_write)
    monkeypatch.setattr(transfer, "NET_WORKERS", 1)
    monkeypatch.chdir(repo)
    from gitmodel.commands import sync
    with pytest.raises(remotes.RemoteError):
        sync.push(Repo.discover(), [], False)
    assert len(_remote_files(store, "chunks")) == 3 and not _remote_files(store, "manifests")
    monkeypatch.undo()
    total = len(set(_remote_files(store, "chunks")))
    out = gm(repo, "push").stdout.decode()
    chunks_moved = int(out.split(" in ")[1].split()[0])
    all_chunks = len(_remote_files(store, "chunks"))
    assert chunks_moved == all_chunks - total, out
    # a remote that lost chunks (and the manifest) since: only those go up again
    for path in _remote_files(store, "chunks")[:2] + _remote_files(store, "manifests"):
        path.unlink()
    (repo / ".git" / "model" / "remotes.sqlite").unlink()
    out = gm(repo, "push").stdout.decode()
    assert " in 2 chunks" in out, out


def test_corrupted_remote_chunk_is_rejected(shared: dict) -> None:
    repo, store = shared["repo"], shared["store"]
    data = _random_file(repo / "m.bin", 4, seed=7)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "m")
    git(repo, "push", "-q", "origin", "main")
    victim = _remote_files(store, "chunks")[1]
    blob = bytearray(victim.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    victim.write_bytes(bytes(blob))
    clone = _clone(shared)
    proc = gm(clone, "pull", check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "model remote 'shared' sent a damaged object" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not list((clone / ".git" / "model" / "objects" / "manifests").rglob("*/*"))
    assert not (clone / ".git" / "model" / "objects" / "chunks" / victim.parent.name / victim.name).exists()
    assert (clone / "m.bin").read_bytes() != data
    git(clone, "checkout", "-q", "HEAD~0", "--", "m.bin")
    assert (clone / "m.bin").stat().st_size < 1024, "the checkout keeps the pointer"


def test_forged_manifest_is_rejected(shared: dict) -> None:
    """Chunks that match their ids but not the file: the sha256 check catches it."""
    repo, store = shared["repo"], shared["store"]
    _random_file(repo / "a.bin", 1, seed=8)
    b = _random_file(repo / "b.bin", 1, seed=9)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "a and b")
    git(repo, "push", "-q", "origin", "main")
    oids = {name: git(repo, "show", f"HEAD:{name}").stdout.split(b"sha256:")[1][:64].decode()
            for name in ("a.bin", "b.bin")}
    path_a, path_b = (store / "manifests" / o[:2] / o for o in (oids["a.bin"], oids["b.bin"]))
    path_a.write_text(path_b.read_text().replace(oids["b.bin"], oids["a.bin"]))
    clone = _clone(shared)
    proc = gm(clone, "pull", check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "does not match its sha256" in err and "a.bin" in err, err
    cache = clone / ".git" / "model" / "objects"
    assert [p.name for p in cache.glob("manifests/*/*")] == [oids["b.bin"]]
    # b.bin was verified and written in the pass that fetched it; a.bin's content was
    # written only to a temporary file, dropped when its sha256 failed
    assert (clone / "b.bin").read_bytes() == b
    assert (clone / "a.bin").stat().st_size < 1024
    assert not list((clone / ".git" / "model" / "tmp").iterdir())
    assert git(clone, "status", "--porcelain").stdout == b""


def test_fsck_repair_fetches_from_remote(shared: dict) -> None:
    repo = shared["repo"]
    data = _random_file(repo / "m.bin", 2, seed=10)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "m")
    gm(repo, "push")
    chunk = sorted((repo / ".git" / "model" / "objects" / "chunks").rglob("*/*"))[0]
    chunk.write_bytes(b"garbage")
    (repo / "m.bin").write_bytes(b"changed in the working tree")
    proc = gm(repo, "fsck", "--repair")
    out = proc.stdout.decode()
    assert proc.returncode == 0 and "fetched again from the model remote" in out, out
    git(repo, "checkout", "--", "m.bin")
    assert (repo / "m.bin").read_bytes() == data


def test_get_without_clone(shared: dict) -> None:
    repo = shared["repo"]
    (repo / "models").mkdir()
    v1 = _random_file(repo / "models" / "m.bin", 2, seed=11)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "v1")
    first = git(repo, "rev-parse", "HEAD").stdout.decode().strip()
    _random_file(repo / "models" / "m.bin", 2, seed=12)
    git(repo, "commit", "-qam", "v2")
    git(repo, "push", "-q", "origin", "main")
    gm(repo, "push", "--all")
    out = shared["tmp"] / "deploy" / "model.bin"
    out.parent.mkdir()
    for rev, expected in [(first, v1), ("main", (repo / "models" / "m.bin").read_bytes())]:
        gm(shared["tmp"], "get", f"file://{shared['origin']}", rev, "models/m.bin", "-o", str(out))
        assert out.read_bytes() == expected
    proc = gm(shared["tmp"], "get", str(shared["origin"]), "main", "nope.bin", "-o", str(out), check=False)
    assert proc.returncode == 1 and "is not a git-model file" in proc.stderr.decode()


def test_workload_bytes_uploaded(shared: dict, workload: Path) -> None:
    """Figures for the report: v0 then v1_head; v1 adds at most 1.3x its novel tensor bytes."""
    repo, store = shared["repo"], shared["store"]
    copy(workload / "v0_base.safetensors", repo / "model.safetensors")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "v0")
    gm(repo, "push")
    v0 = _remote_bytes(store)
    copy(workload / "v1_head.safetensors", repo / "model.safetensors")
    git(repo, "commit", "-qam", "v1")
    gm(repo, "push")
    v1 = _remote_bytes(store) - v0
    novel = novel_bytes(workload, "v1_head.safetensors")
    print(f"\nuploaded v0 {v0} bytes, v1_head {v1} bytes (novel tensor bytes {novel}, "
          f"ratio {v1 / novel:.2f})")
    assert v1 <= 1.3 * novel


def test_push_cost_follows_what_changed(shared: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """An object pushed a moment ago costs one read, of the remote's generation token (a
    remote that lost objects since has another one, or none: issue 10 item 10,
    transfer/recent.py); a new version checks only its chunks."""
    repo = shared["repo"]
    v1 = _random_file(repo / "m.bin", 4, seed=13)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "v1")
    gm(repo, "push")
    (repo / "m.bin").write_bytes(v1 + b"appended")
    git(repo, "commit", "-qam", "v2")
    calls: list[str] = []
    for method in ("exists", "names", "read", "write"):
        real = getattr(remotes.Backend, method)
        monkeypatch.setattr(remotes.Backend, method,
                            lambda self, *a, _r=real, _m=method: calls.append(_m) or _r(self, *a))
    monkeypatch.chdir(repo)
    from gitmodel.commands import sync
    _, stats = sync.push(Repo.discover(), ["HEAD~1"], False)
    assert calls == ["read"] and stats.up_to_date == 1, "pushed before: one check, no upload"
    calls.clear()
    _, stats = sync.push(Repo.discover(), ["HEAD"], False)
    manifest_chunks = len(Store(repo / ".git" / "model").read_manifest(
        next(iter(Repo.discover().tree_entries("HEAD"))).pointer.oid).chunks)
    checks = calls.count("exists") + calls.count("names")
    # + one listing of packs/ (small files are pushed in packs), asked once per push
    assert checks <= 2 + manifest_chunks and stats.chunks <= 2, (calls, stats)
    assert calls.count("write") == stats.chunks + 2  # new chunks, the manifest, a new token


def test_start_up_does_not_load_network_code() -> None:
    """The CLI, the filter process and the hooks import fsspec only when a transfer runs."""
    code = ("import sys, gitmodel.cli.main, gitmodel.filter.process, gitmodel.commands.hooks, "
            "gitmodel.commands.status, gitmodel.commands.fsck\nheavy = {m.split('.')[0] for m in sys.modules} & "
            "{'fsspec', 's3fs', 'sshfs', 'asyncssh', 'botocore', 'aiobotocore', 'tqdm'}\n"
            "assert not heavy, heavy")
    import subprocess
    import sys
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_push_of_a_pushed_commit_reads_one_token(shared: dict) -> None:
    """`git model push` again with nothing new answers from this clone's record of the
    commit (transfer/recent.py): its pointers are not listed, and for a directory remote
    fsspec is not even loaded; a new commit is pushed as ever."""
    import subprocess
    import sys
    repo = shared["repo"]
    _random_file(repo / "m.bin", 1, seed=21)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "v1")
    assert "pushed 1 object" in gm(repo, "push").stdout.decode()
    code = ("import sys\nfrom gitmodel.commands import sync\nfrom gitmodel.git.repo import Repo\n"
            "Repo.tree_entries = None  # must not be needed\n"
            "_, stats = sync.push(Repo.discover(), [], False)\n"
            "assert stats.up_to_date == 1 and not stats.objects, stats\n"
            "assert 'fsspec' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=repo, check=True)
    _random_file(repo / "n.bin", 1, seed=22)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "v2")
    out = gm(repo, "push").stdout.decode()
    assert "pushed 1 object" in out and "1 already up to date" in out, out


def test_a_model_push_after_a_first_git_push_reads_one_token(shared: dict) -> None:
    """The pre-push hook of a first `git push` sends every object of the pushed commit and
    remembers it as the push of the commit would: `git model push` then lists no pointers.
    A later git push leaves out what the git remote has, so its commit is not remembered
    from the hook, and `git model push` of it lists its pointers and finds them there."""
    import subprocess
    import sys
    repo = shared["repo"]
    _random_file(repo / "m.bin", 1, seed=31)
    _random_file(repo / "n.bin", 1, seed=32)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "v1")
    git(repo, "push", "-q", "origin", "HEAD:main")
    code = ("from gitmodel.commands import sync\nfrom gitmodel.git.repo import Repo\n"
            "Repo.tree_entries = None  # must not be needed\n"
            "_, stats = sync.push(Repo.discover(), [], False)\n"
            "assert stats.up_to_date == 2 and not stats.objects, stats\n")
    subprocess.run([sys.executable, "-c", code], cwd=repo, check=True)
    _random_file(repo / "n.bin", 1, seed=33)
    git(repo, "commit", "-qam", "v2")
    git(repo, "push", "-q", "origin", "HEAD:main")
    assert subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True).returncode != 0
    out = gm(repo, "push").stdout.decode()
    assert "nothing to transfer (2 objects up to date" in out, out


def test_a_pull_from_a_directory_remote_does_not_load_fsspec(shared: dict) -> None:
    """A directory remote is listed and read with plain file calls: importing fsspec was
    ~0.1 s of every pull from one. The small files arrive whole and clean to git."""
    import subprocess
    import sys
    repo = shared["repo"]
    rng = random.Random(5)
    small = {f"s{i}.bin": rng.randbytes(40_000 + i) for i in range(3)}
    for name, data in small.items():
        (repo / name).write_bytes(data)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "small")
    git(repo, "push", "-q", "origin", "main")
    clone = _clone(shared)
    code = ("import sys\nfrom gitmodel.commands import sync\nfrom gitmodel.git.repo import Repo\n"
            "_, stats, done, missing = sync.pull(Repo.discover(), None)\n"
            "assert stats.objects == 3 and len(done) == 3 and not missing, (stats, done, missing)\n"
            "assert 'fsspec' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=clone, check=True)
    assert all((clone / name).read_bytes() == data for name, data in small.items())
    assert git(clone, "status", "--porcelain").stdout == b""


def test_commands_that_cut_nothing_do_not_load_the_chunker() -> None:
    """status, the hooks, checkout and the filter process before its first clean load
    pyfastcdc (and the typing_extensions and logging it imports) only to cut a file."""
    code = ("import sys, gitmodel.cli.filtering, gitmodel.filter.process, gitmodel.commands.hooks, "
            "gitmodel.commands.status, gitmodel.commands.checkout, gitmodel.commands.sync\n"
            "assert 'pyfastcdc' not in sys.modules")
    import subprocess
    import sys
    subprocess.run([sys.executable, "-c", code], check=True)


def test_killed_push_resumes(shared: dict) -> None:
    """SIGKILL during a push: whole chunks, no manifest, no half file; a re-run sends the rest."""
    repo, store = shared["repo"], shared["store"]
    _random_file(repo / "m.bin", 24, seed=14)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "m")
    kill_at(repo, ["git-model", "push"], "upload:40")  # the 40th upload written, not in place
    before = {p.name for p in _remote_files(store, "chunks")}
    assert before and not _remote_files(store, "manifests"), "killed before the manifest"
    out = gm(repo, "push").stdout.decode()
    after = {p.name for p in _remote_files(store, "chunks")}
    moved = int(out.split(" in ")[1].split()[0])
    assert moved == len(after - before) and moved < len(after), out
    git(repo, "push", "-q", "origin", "main")
    clone = _clone(shared, "after-kill")
    gm(clone, "pull")  # every chunk under its final name is whole: all verify
    assert (clone / "m.bin").read_bytes() == (repo / "m.bin").read_bytes()
