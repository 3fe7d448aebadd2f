"""The everyday loop of issue 20, through the real CLI and git: remotes resolved from today's
configuration, remote names as git takes them, honest errors, --json, exit codes, output."""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from conftest import git, gm
from gitmodel.store.pointer import parse


def _write(path: Path, size: int, seed: int) -> bytes:
    data = random.Random(seed).randbytes(size)
    path.write_bytes(data)
    return data


def _err(proc) -> str:
    return proc.stderr.decode()


@pytest.fixture
def history(tmp_path: Path, repo: Path) -> dict:
    """Two model versions committed before `.gitmodel` existed, then a remote, all pushed."""
    v1 = _write(repo / "m.bin", 200_000, 1)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "v1")
    v2 = _write(repo / "m.bin", 200_000, 2)
    git(repo, "commit", "-qam", "v2")
    store = tmp_path / "store"
    gm(repo, "remote", "add", "shared", str(store))
    git(repo, "add", ".gitmodel")
    git(repo, "commit", "-qm", "remote")
    gm(repo, "push", "--all")
    return {"repo": repo, "store": store, "v1": v1, "v2": v2, "tmp": tmp_path}


@pytest.mark.slow
def test_old_commits_fetch_from_todays_remote(history: dict) -> None:
    repo = history["repo"]
    git(repo, "config", "model.fetchOnCheckout", "false")
    (repo / "m.bin").unlink()
    git(repo, "checkout", "-q", "--", "m.bin")
    cache = repo / ".git" / "model" / "objects"
    for path in sorted(cache.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    git(repo, "checkout", "-q", "HEAD~2")  # v1: no .gitmodel in this commit
    assert not (repo / ".gitmodel").exists() and parse((repo / "m.bin").read_bytes())
    out = gm(repo, "pull").stdout.decode()
    assert (repo / "m.bin").read_bytes() == history["v1"], out
    out = gm(repo, "fetch", "shared", "main").stdout.decode()  # a remote name, as git fetch
    assert out.startswith("fetched 1 object,"), out
    proc = gm(repo, "fetch", "nosuch", check=False)
    assert proc.returncode == 1 and "neither a model remote (shared) nor a revision" in _err(proc)


@pytest.mark.slow
def test_remote_only_in_local_config_is_used(tmp_path: Path, repo: Path) -> None:
    data = _write(repo / "m.bin", 100_000, 3)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "v1")
    git(repo, "config", "model.remote.mine.url", str(tmp_path / "store"))
    assert gm(repo, "push").stdout.decode().startswith("pushed 1 object,")
    (repo / ".git" / "model" / "objects").rename(tmp_path / "aside")
    (repo / "m.bin").write_bytes(b"x")
    git(repo, "checkout", "--", "m.bin")
    gm(repo, "pull")
    assert (repo / "m.bin").read_bytes() == data


def test_pull_in_a_clone_of_an_empty_repository_has_nothing_to_do(tmp_path: Path) -> None:
    """A clone of an empty repository has no index yet: pull says there is nothing, and
    exits 0 (it failed with "No such file or directory (.git/index)")."""
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(tmp_path, "clone", "-q", "origin.git", "clone")
    clone = tmp_path / "clone"
    gm(clone, "install", "--local")
    (tmp_path / "store").mkdir()
    git(clone, "config", "model.remote.origin.url", str(tmp_path / "store"))
    out = gm(clone, "pull").stdout.decode()
    assert "nothing to transfer" in out, out
    assert not (clone / ".git" / "index.lock").exists()


def test_remote_errors_point_the_right_way(tmp_path: Path, repo: Path) -> None:
    _write(repo / "m.bin", 50_000, 4)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "v1")
    gm(repo, "remote", "add", "gone", str(tmp_path / "nowhere"))
    proc = gm(repo, "fetch", check=False)
    assert proc.returncode == 1 and "remote path does not exist" in _err(proc), _err(proc)
    proc = gm(repo, "remote", "add", "--check", "gone2", str(tmp_path / "nowhere2"), check=False)
    assert proc.returncode == 1 and "remote path does not exist" in _err(proc)
    assert "gone2" not in gm(repo, "remote", "list").stdout.decode()
    (tmp_path / "there").mkdir()
    gm(repo, "remote", "add", "--check", "there", str(tmp_path / "there"))
    # s3fs/sshfs not installed: a package on PYTHONPATH that fails to import stands in
    for name in ("s3fs", "sshfs"):
        (tmp_path / "blocked" / name).mkdir(parents=True)
        (tmp_path / "blocked" / name / "__init__.py").write_text("raise ImportError('blocked')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "blocked"))
    gm(repo, "remote", "add", "s3", "s3://bucket/prefix")
    gm(repo, "remote", "add", "ssh", "ssh://127.0.0.1:1/srv")
    for name, extra in (("s3", "s3"), ("ssh", "ssh")):
        proc = gm(repo, "fetch", name, env=env, check=False)
        assert proc.returncode == 1
        assert f"install the {extra} extra: pip install 'git-model[{extra}]'" in _err(proc), _err(proc)
    gm(repo, "remote", "set-default", "ssh")  # a checkout that must fetch says why it could not
    _empty_cache(repo)
    (repo / "m.bin").unlink()
    proc = git(repo, "checkout", "--", "m.bin", env=env)
    assert "install the ssh extra" in _err(proc) and "m.bin: left as a pointer" in _err(proc), _err(proc)


def _empty_cache(repo: Path) -> None:
    cache = repo / ".git" / "model" / "objects"
    for path in sorted(cache.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()


@pytest.mark.slow
def test_strict_checkout_completes_and_names_the_recovering_command(history: dict) -> None:
    repo = history["repo"]
    git(repo, "config", "model.smudge.strict", "true")
    git(repo, "config", "model.fetchOnCheckout", "false")
    _empty_cache(repo)
    proc = git(repo, "checkout", "-q", "HEAD~2", check=False)  # v1: older than .gitmodel
    assert proc.returncode == 1, _err(proc)
    lines = _err(proc).strip().splitlines()
    assert lines[0].startswith("git-model: m.bin: left as a pointer") and len(lines) == 2, lines
    assert "git model pull" in lines[1] and "model.smudge.strict" in lines[1]
    assert git(repo, "log", "-1", "--format=%s").stdout.strip() == b"v1", "HEAD moved"
    assert parse((repo / "m.bin").read_bytes()) is not None, "the pointer is there, not nothing"
    assert git(repo, "status", "--porcelain").stdout == b""
    gm(repo, "pull")  # the command the advice names recovers
    assert (repo / "m.bin").read_bytes() == history["v1"]


@pytest.mark.slow
def test_transfer_options(history: dict) -> None:
    repo, tmp = history["repo"], history["tmp"]
    _write(repo / "a.bin", 15_000, 5)  # below the smallest content-defined chunk: one each
    _write(repo / "b.bin", 15_000, 6)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "a and b")
    dry = json.loads(gm(repo, "push", "--dry-run", "--json").stdout)
    assert dry["objects"] == 2 and dry["chunks"] == 2 and dry["up_to_date"] == 1, dry
    assert json.loads(gm(repo, "push", "--dry-run", "--json").stdout) == dry, "nothing was sent"
    pushed = json.loads(gm(repo, "push", "--json").stdout)
    assert pushed == {**dry, "remote": "shared"} and pushed["moved"] == dry["moved"]
    _empty_cache(repo)
    for name in ("a.bin", "b.bin", "m.bin"):
        (repo / name).unlink()
    git(repo, "config", "model.fetchOnCheckout", "false")
    git(repo, "checkout", "-q", "--", ".")
    out = gm(repo, "pull", "-I", "*.bin", "--exclude", "a.*").stdout.decode()
    assert "fetched 2 objects" in out and "restored 2 files" in out, out
    assert parse((repo / "a.bin").read_bytes()) is not None and parse((repo / "b.bin").read_bytes()) is None
    fetched = json.loads(gm(repo, "fetch", "--all", "--json").stdout)
    assert fetched["objects"] == 2 and fetched["remote"] == "shared", fetched  # a.bin and v1
    gm(repo, "checkout", "a.bin")
    # get: default output name, --remote as a URL for a repository without .gitmodel
    git(repo, "tag", "v1", "HEAD~3")
    (tmp / "out").mkdir()
    gm(tmp / "out", "get", str(repo), "main", "m.bin")
    assert (tmp / "out" / "m.bin").read_bytes() == history["v2"]
    bare = tmp / "bare.git"
    git(tmp, "clone", "-q", "--bare", "--branch", "v1", str(repo), str(bare))
    proc = gm(tmp / "out", "get", str(bare), "v1", "m.bin", "-o", "v1.bin", check=False)
    assert proc.returncode == 1 and "--remote" in _err(proc), _err(proc)
    gm(tmp / "out", "get", str(bare), "v1", "m.bin", "-o", "v1.bin", "--remote", str(history["store"]))
    assert (tmp / "out" / "v1.bin").read_bytes() == history["v1"]


@pytest.fixture
def committed(repo: Path) -> Path:
    """`repo` with one committed model file (m.bin) and an untracked text file."""
    _write(repo / "m.bin", 80_000, 7)
    (repo / "notes.txt").write_text("not a model\n")
    git(repo, "add", "m.bin", ".gitattributes")
    git(repo, "commit", "-qm", "v1")
    return repo


def test_status_and_ls_files_json_and_quiet(committed: Path) -> None:
    repo = committed
    assert gm(repo, "status", "--quiet").returncode == 0
    status = json.loads(gm(repo, "status", "--json").stdout)
    assert status["clean"] and status["staged"] == [] and status["remote"] is None
    _write(repo / "m.bin", 80_000, 8)
    quiet = gm(repo, "status", "-q", check=False)
    assert quiet.returncode == 1 and quiet.stdout == b""
    assert json.loads(gm(repo, "status", "--json").stdout)["modified"] == ["m.bin"]
    [listed] = json.loads(gm(repo, "ls-files", "--json").stdout)
    assert listed["path"] == "m.bin" and listed["cached"] and listed["size"] == 80_000
    assert len(listed["oid"]) == 64


def test_fsck_json(committed: Path) -> None:
    report = json.loads(gm(committed, "fsck", "--json").stdout)
    assert report == {"ok": True, "problems": [], "remaining": [], "raw": [], "messages": []}
    pack = next((committed / ".git/model/objects/packs").glob("*.pack"))  # a small file: packed
    pack.chmod(0o644)
    with open(pack, "r+b") as handle:
        handle.seek(1000)
        handle.write(b"damaged")
    proc = gm(committed, "fsck", "--json", check=False)
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and not report["ok"]
    assert report["problems"][0]["kind"] == "corrupt" and report["problems"][0]["paths"] == ["m.bin"]


@pytest.mark.parametrize("args, message", [
    (("show", "badrev:m.bin"), "unknown revision 'badrev'"),
    (("ls-files", "badrev"), "unknown revision 'badrev'"),
    (("show", "notes.txt"), "notes.txt is not a git-model file"),
    (("checkout", "nosuch"), "pathspec 'nosuch' did not match any model file"),
    (("diff", "HEAD", "--", "nosuch"), "pathspec 'nosuch' did not match any model file"),
    (("fetch",), "no model remote configured: run `git model remote add NAME URL`"),
    (("prune",), "prune deletes only what a model remote holds, and none is configured"),
])
def test_wrong_input_is_one_honest_line(committed: Path, args: tuple, message: str) -> None:
    proc = gm(committed, *args, check=False)
    err = _err(proc)
    assert proc.returncode == 1 and message in err and len(err.strip().splitlines()) == 1, err


def test_overview_version_and_show_same_as_head(committed: Path) -> None:
    proc = gm(committed, check=False)
    assert proc.returncode == 0 and "Commands:" in proc.stdout.decode()
    assert gm(committed, "version").stdout.decode().startswith("git-model ")
    storage = [line for line in gm(committed, "show", "m.bin").stdout.decode().splitlines()
               if line.startswith("storage")]
    assert storage[0].endswith("; same as HEAD") and "1 chunk," in storage[0], storage


def test_failed_textconv_is_never_cached(committed: Path) -> None:
    repo = committed
    _write(repo / "m.bin", 80_000, 9)
    git(repo, "commit", "-qam", "v2")
    objects = repo / ".git" / "model" / "objects"
    objects.rename(repo / ".git" / "model" / "aside")
    proc = git(repo, "log", "-p", "-1", check=False)
    assert proc.returncode != 0 and "not in the cache: not converted" in _err(proc)
    assert git(repo, "notes", "--ref", "textconv/model", "list", check=False).stdout == b""
    (repo / ".git" / "model" / "aside").rename(objects)
    assert "-tensor" not in git(repo, "log", "-p", "-1").stdout.decode()
    assert "+content " in git(repo, "log", "-p", "-1").stdout.decode()


def test_unmerged_model_is_listed_once(committed: Path) -> None:
    repo = committed
    git(repo, "checkout", "-qb", "other")
    _write(repo / "m.bin", 80_000, 10)
    git(repo, "commit", "-qam", "theirs")
    git(repo, "checkout", "-q", "-")
    _write(repo / "m.bin", 80_000, 11)
    git(repo, "commit", "-qam", "ours")
    assert git(repo, "merge", "-q", "other", check=False).returncode != 0
    status = json.loads(gm(repo, "status", "--json").stdout)
    assert status["unmerged"] == ["m.bin"] and status["staged"] == [] and status["modified"] == []


def test_progress_and_summary_use_one_unit_system() -> None:
    from gitmodel.transfer.engine import Progress, Stats
    progress = Progress("push", 3 << 20, 0)
    progress.update(1 << 20, 512 << 10)
    assert progress.text(2.0) == "1.0 MiB of 3.0 MiB, 512.0 KiB/s, moved 512.0 KiB"
    one = Stats(objects=1, logical=1 << 20, moved=1000, chunks=1)
    assert one.summary("pushed", "r") == ("pushed 1 object, 1.0 MiB of model files: moved 1000 B "
                                          "in 1 chunk; 0 already up to date")


def _safetensors(path: Path, tensors: dict[str, tuple[list[int], bytes]]) -> None:
    import struct
    header, offset = {}, 0
    for name, (shape, data) in tensors.items():
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(d for _, d in tensors.values()))


def test_diff_columns_are_aligned(repo: Path) -> None:
    f32 = lambda n, seed: random.Random(seed).randbytes(4 * n)  # noqa: E731
    _safetensors(repo / "m.safetensors", {"a": ([4], f32(4, 1)), "longer.name": ([2, 3], f32(6, 2))})
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "v1")
    _safetensors(repo / "m.safetensors", {"a": ([4], f32(4, 3)), "longer.name": ([2, 3], f32(6, 4))})
    rows = [line for line in gm(repo, "diff").stdout.decode().splitlines() if "changed  " in line]
    assert len(rows) == 2 and rows[0].index("F32") == rows[1].index("F32"), rows
    assert rows[0].index("% of elements") == rows[1].index("% of elements"), rows


def _demo_say(env: dict, tty: bool) -> bytes:
    """The demo's own `say`, cut from examples/demo.sh, run with stdout a pipe or a terminal."""
    import pty
    import subprocess
    text = (Path(__file__).resolve().parents[1] / "examples" / "demo.sh").read_text()
    helpers = text[text.index("# colour only"):text.index("set_param()")]
    args = ["bash", "-c", helpers + "say hello"]
    if not tty:
        return subprocess.run(args, env=env, capture_output=True, check=True).stdout
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, env=env, stdout=follower, stderr=subprocess.DEVNULL)
    os.close(follower)
    out = b""
    while True:
        try:
            block = os.read(leader, 1024)
        except OSError:  # the terminal closed: bash exited
            break
        if not block:
            break
        out += block
    proc.wait()
    os.close(leader)
    return out


def test_demo_colours_only_a_terminal_and_honours_no_color() -> None:
    plain = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    assert b"\x1b[" not in _demo_say(plain, tty=False)
    assert b"\x1b[1m== hello" in _demo_say(plain, tty=True)
    assert b"\x1b[" not in _demo_say({**plain, "NO_COLOR": "1"}, tty=True)


@pytest.mark.slow
def test_prune_keeps_recent_and_unpushed_versions(history: dict) -> None:
    repo = history["repo"]
    git(repo, "checkout", "-qb", "side")
    side = _write(repo / "m.bin", 200_000, 12)
    git(repo, "commit", "-qam", "side: never pushed")
    git(repo, "checkout", "-q", "-")
    v3 = _write(repo / "m.bin", 200_000, 13)
    git(repo, "commit", "-qam", "v3: HEAD, not pushed either")
    args = ("prune", "--grace", "0", "--json")
    assert json.loads(gm(repo, *args).stdout)["prunable"] == [], "every commit is recent (10 days)"
    dry = json.loads(gm(repo, *args, "--recent-days", "0", "--dry-run").stdout)
    assert len(dry["prunable"]) == 2 and len(dry["not_on_remote"]) == 1 and dry["recent"] == 1, dry
    assert dry["freed"] == 0 and json.loads(gm(repo, *args, "--recent-days", "0", "--dry-run").stdout) == dry
    out = gm(repo, "prune", "--grace", "0", "--recent-days", "0").stdout.decode()
    assert out.startswith("pruned 2 old versions held by 'shared'") and "does not have" in out, out
    listed = {f["path"] + str(f["cached"]) for f in json.loads(gm(repo, "ls-files", "--json", "HEAD~3").stdout)}
    assert listed == {"m.binFalse"}, "v1 went"
    git(repo, "checkout", "-q", "side")  # never pushed: still here
    assert (repo / "m.bin").read_bytes() == side
    git(repo, "checkout", "-q", "HEAD~3")  # v1 comes back from the remote on demand
    assert (repo / "m.bin").read_bytes() == history["v1"]
    git(repo, "checkout", "-q", "main")
    assert (repo / "m.bin").read_bytes() == v3
