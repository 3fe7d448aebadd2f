"""Issue 18: what a cloned repository, a URL or a ref name may make git-model do.

Each test plays the attacker with real git and asserts the expected behaviour: nothing
written outside the repository and the cache, no secret in a committed file or on the
screen, no repository text read by git as an option or pathspec magic, bounded reads.
"""
from __future__ import annotations

import os
import resource
import subprocess
import time
from pathlib import Path

import pytest

from conftest import git, gm


def _small_stack() -> None:
    """ARG_MAX is a quarter of the stack limit: 512 KiB of stack leaves 128 KiB of arguments,
    so a few hundred long paths overflow it as 15,000 ordinary ones do on a default stack."""
    resource.setrlimit(resource.RLIMIT_STACK, (512 * 1024, resource.RLIM_INFINITY))


def test_many_racy_paths_never_go_on_gits_command_line(repo):
    """18.10: racily-clean paths reach git through stdin or a listing, never as arguments."""
    deep = repo / ("d" * 200) / ("e" * 200) / ("f" * 200)
    deep.mkdir(parents=True)
    future = time.time() + 3600  # recorded mtime after the index's: every entry is racy
    for i in range(300):
        path = deep / (f"{i:04d}" + "x" * 200)
        path.write_text("hi")
        os.utime(path, (future, future))
    git(repo, "add", "-A")
    proc = subprocess.run(["git", "model", "checkout"], cwd=repo, capture_output=True,
                          preexec_fn=_small_stack)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"Traceback" not in proc.stderr
    assert git(repo, "diff", "--name-only").stdout == b""


def _one_line(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.decode()
    assert proc.returncode != 0 and "Traceback" not in err and err.count("\n") == 1, err
    return err


def _commit_all(repo: Path, message: str = "c", *options: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message, *options)


def test_symlinked_gitmodel_is_neither_read_nor_written(repo, tmp_path):
    """18.1: `git config -f` would follow a committed `.gitmodel` link out of the clone."""
    outside = tmp_path / "victim.cfg"
    outside.write_text("[user]\n\tname = victim\n")
    (repo / ".gitmodel").symlink_to(outside)
    _commit_all(repo)  # the pre-commit hook names the link and runs nothing
    assert "symbolic link" in _one_line(gm(repo, "remote", "add", "s", str(tmp_path / "s"),
                                           check=False))
    assert "symbolic link" in _one_line(gm(repo, "stages", check=False))
    assert outside.read_text() == "[user]\n\tname = victim\n"


def test_symlinked_gitattributes_is_not_rewritten(plain_repo, tmp_path):
    """18.2: `track`/`untrack` would rewrite the link's target outside the clone."""
    outside = tmp_path / "victim.txt"
    outside.write_text("precious\n")
    (plain_repo / ".gitattributes").symlink_to(outside)
    for verb in ("track", "untrack"):
        assert "symbolic link" in _one_line(gm(plain_repo, verb, "*.bin", check=False))
    assert outside.read_text() == "precious\n"


def test_get_output_symlink_is_replaced_not_followed(repo, tmp_path):
    """18.3: the link at -o is replaced by the file; its target keeps its bytes and mode."""
    store = tmp_path / "store"
    gm(repo, "remote", "add", "origin", str(store))
    (repo / "m.bin").write_bytes(os.urandom(50_000))
    _commit_all(repo)
    gm(repo, "push", "--all")
    victim = tmp_path / "victim"
    victim.write_text("keep")
    victim.chmod(0o600)
    out = tmp_path / "out.bin"
    out.symlink_to(victim)
    gm(tmp_path, "get", str(repo), "main", "m.bin", "-o", str(out))
    assert not out.is_symlink() and out.read_bytes() == (repo / "m.bin").read_bytes()
    assert victim.read_text() == "keep" and victim.stat().st_mode & 0o777 == 0o600
    big = b"version https://git-lfs.github.com/spec/v1\n" + b"x" * 5_000_000
    git(repo, "update-index", "--add", "--cacheinfo",
        f"100644,{git(repo, 'hash-object', '-w', '--stdin', input=big).stdout.decode().strip()},"
        "big.bin")
    git(repo, "commit", "-qm", "big", "--no-verify")  # what a hostile repository holds
    assert "not a git-model file" in _one_line(gm(tmp_path, "get", str(repo), "main", "big.bin",
                                                  check=False))


def test_stage_paths_are_never_pathspec_magic(repo):
    """18.4: `metrics = :!score.txt` would make `git add -- :!score.txt` stage every file."""
    (repo / ".gitmodel").write_text('[stage "s"]\n\tcmd = echo 1 > out.txt\n\tdeps = in.txt\n'
                                    '\touts = out.txt\n\tmetrics = :!score.txt\n')
    (repo / "in.txt").write_text("x")
    assert "may not start with ':'" in _one_line(gm(repo, "run", check=False))
    (repo / ".gitmodel").write_text('[stage "s"]\n\tcmd = echo 1 > out.txt\n\tdeps = in.txt\n'
                                    '\touts = out.txt\n')
    (repo / ".env.local").write_text("SECRET=1")
    git(repo, "add", ".gitmodel", "in.txt")
    gm(repo, "run")
    assert b".env.local" not in git(repo, "diff", "--cached", "--name-only").stdout


def test_credentials_never_reach_gitmodel_or_the_screen(repo, tmp_path):
    """18.5 and 18.6: no password or token in the committed file, the database or an error."""
    for url in ("ssh://alice:secret@127.0.0.1/srv", "https://ghp_token123@example.com/x"):
        err = _one_line(gm(repo, "remote", "add", "s", url, check=False))
        assert "secret" not in err and "ghp_token123" not in err
    assert not (repo / ".gitmodel").exists()
    proc = gm(tmp_path, "get", "https://ghp_token123@127.0.0.1:1/x.git", "main", "m.bin",
              check=False)
    assert "ghp_token123" not in _one_line(proc)
    store = tmp_path / "store"
    git(repo, "config", "model.remote.s.url", f"file://user:pw123@localhost{store}")
    (repo / "m.bin").write_bytes(os.urandom(10_000))
    _commit_all(repo)
    gm(repo, "push", "s", check=False)
    db = repo / ".git" / "model" / "remotes.sqlite"
    assert not db.exists() or b"pw123" not in db.read_bytes()


def test_a_ref_named_like_an_option_is_a_ref(repo):
    """18.7: a fetched tag `-n` reached `git ls-tree` as an option and broke fsck."""
    (repo / "m.bin").write_bytes(os.urandom(10_000))
    _commit_all(repo)
    head = git(repo, "rev-parse", "HEAD").stdout.decode().strip()
    git(repo, "update-ref", "refs/tags/-n", head)
    proc = gm(repo, "fsck")
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr


def test_symlinked_metrics_and_model_files_are_not_read(repo):
    """18.11: `metrics.json -> /dev/zero` read without bound; `show` read /proc files."""
    (repo / ".gitmodel").write_text('[stage "s"]\n\tcmd = true\n\tdeps = in.txt\n'
                                    '\tmetrics = metrics.json\n')
    (repo / "metrics.json").symlink_to("/dev/zero")
    (repo / "m.bin").symlink_to("/proc/self/environ")
    assert "not a regular file" in _one_line(gm(repo, "metrics", check=False))
    _one_line(gm(repo, "show", "m.bin", check=False))
    os.mkfifo(repo / "f.bin")  # a special file inside the repository: never opened
    assert "special file" in _one_line(gm(repo, "show", "f.bin", check=False))


# -- issue 10.3 and 10.6: nothing from a clone runs or receives uploads without an opt-in --
STAGE = '[stage "s"]\n\tcmd = {cmd}\n\tdeps = in.txt\n\touts = out.txt\n'


def _upstream_with_stage(tmp_path: Path, cmd: str) -> Path:
    """Someone else's repository: a stage, a model remote, both committed."""
    up = tmp_path / "up"
    up.mkdir()
    git(up, "init", "-q")
    (up / ".gitmodel").write_text(STAGE.format(cmd=cmd)
                                  + f'[remote "team"]\n\turl = {tmp_path / "team"}\n')
    (up / "in.txt").write_text("1")
    (up / "out.txt").write_text("0")
    _commit_all(up, "upstream")
    return up


def test_a_clones_stages_run_only_after_git_model_trust(tmp_path):
    up = _upstream_with_stage(tmp_path, "touch ran-$(cat in.txt) && cp in.txt out.txt")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(up), str(clone))
    gm(clone, "install", "--local")
    (clone / "in.txt").write_text("2")
    git(clone, "add", "in.txt")
    proc = git(clone, "commit", "-qm", "dep", check=False)
    assert proc.returncode == 1 and b"git model trust" in proc.stderr
    assert not list(clone.glob("ran-*")), "a stranger's command ran"
    assert b"s: runs touch ran-" in gm(clone, "trust").stdout
    git(clone, "commit", "-qm", "dep")
    assert (clone / "ran-2").exists()
    # a changed command arriving with a pull needs trusting again
    (up / ".gitmodel").write_text(STAGE.format(cmd="touch evil && cp in.txt out.txt"))
    _commit_all(up, "new cmd")
    git(clone, "pull", "-q", "--no-rebase", "--no-edit")
    (clone / "in.txt").write_text("3")
    git(clone, "add", "in.txt")
    assert git(clone, "commit", "-qm", "dep", check=False).returncode == 1
    assert not (clone / "evil").exists()
    # nor is a command someone else wrote adopted as yours by a squash merge
    git(up, "checkout", "-qb", "other")
    (up / ".gitmodel").write_text(STAGE.format(cmd="touch squashed && cp in.txt out.txt"))
    _commit_all(up, "other cmd")
    git(clone, "reset", "-q", "--hard")
    git(clone, "fetch", "-q", "origin", "other")
    git(clone, "merge", "-q", "--squash", "FETCH_HEAD", check=False)
    assert git(clone, "commit", "-qm", "squash", check=False).returncode == 1
    assert not (clone / "squashed").exists()


def test_your_own_stages_never_ask_for_trust(tmp_path, repo):
    """Stages committed in this repository, or found by `install` in one you made, just run."""
    (repo / ".gitmodel").write_text(STAGE.format(cmd="cp in.txt out.txt"))
    (repo / "in.txt").write_text("1")
    _commit_all(repo)
    assert (repo / "out.txt").read_text() == "1"
    (repo / ".gitmodel").write_text(STAGE.format(cmd="cp in.txt out.txt && touch again"))
    (repo / "in.txt").write_text("2")
    _commit_all(repo)
    assert (repo / "again").exists()
    made = tmp_path / "made"
    made.mkdir()
    git(made, "init", "-q")
    (made / ".gitmodel").write_text(STAGE.format(cmd="cp in.txt out.txt"))
    (made / "in.txt").write_text("1")
    _commit_all(made)  # before install: no hook
    gm(made, "install", "--local")
    (made / "in.txt").write_text("5")
    _commit_all(made)
    assert (made / "out.txt").read_text() == "5"


def test_a_clones_remote_url_is_confirmed_before_the_first_upload(tmp_path):
    up = _upstream_with_stage(tmp_path, "true")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(up), str(clone))
    gm(clone, "install", "--local")
    gm(clone, "track", "*.bin")
    (clone / "m.bin").write_bytes(os.urandom(10_000))
    _commit_all(clone, "model", "--no-verify")
    err = _one_line(gm(clone, "push", check=False))
    assert "never confirmed" in err and str(tmp_path / "team") in err
    assert not (tmp_path / "team").exists()
    gm(clone, "trust")
    gm(clone, "push")
    assert (tmp_path / "team" / "packs").is_dir()  # a small file: its objects go up packed
    for url in ("gopher://host/x", "ssh://host:99999/x"):
        git(clone, "config", "model.remote.team.url", url)
        assert "team" in _one_line(gm(clone, "push", check=False))


def test_a_long_stage_chain_is_ordered_and_a_cycle_is_one_line(repo):
    """18.8: 1,200 chained stages overflowed the recursive ordering (every commit refused)."""
    text = "".join(f'[stage "s{i}"]\n\tcmd = true\n\tdeps = o{i - 1}\n\touts = o{i}\n'
                   for i in range(1199, 0, -1))
    (repo / ".gitmodel").write_text(text)
    lines = gm(repo, "stages").stdout.decode().splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == ["s1", "s2"] and len(lines) == 1199
    (repo / ".gitmodel").write_text(text + '[stage "s0"]\n\tcmd = true\n\tdeps = o1199\n'
                                    '\touts = o0\n')
    assert "cycle" in _one_line(gm(repo, "stages", check=False))


def test_gc_never_follows_symlinks_inside_the_cache(repo, tmp_path):
    """Also seen: a symlinked fan-out folder or tmp/ made gc list files outside the cache."""
    outside = tmp_path / "outside"
    outside.mkdir()
    old = time.time() - 30 * 86400
    victim = outside / ("ab" * 16)
    victim.write_bytes(b"x")
    os.utime(victim, (old, old))
    cache = repo / ".git" / "model"
    (cache / "objects" / "chunks").mkdir(parents=True, exist_ok=True)
    (cache / "objects" / "chunks" / "ab").symlink_to(outside)
    if (cache / "tmp").exists():
        (cache / "tmp").rmdir()
    (cache / "tmp").symlink_to(outside)
    assert str(outside) not in gm(repo, "gc", "--dry-run").stdout.decode()
    gm(repo, "gc", "--grace", "0")
    assert victim.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a symlink owned by another user (lchown)")
def test_get_refuses_a_directory_symlink_someone_else_owns(repo, tmp_path):
    """18.3: in a shared /tmp, another user's planted directory link redirects the write."""
    (tmp_path / "real").mkdir()
    planted = tmp_path / "shared"
    planted.symlink_to(tmp_path / "real")
    os.lchown(planted, 12345, 12345)
    err = _one_line(gm(tmp_path, "get", str(repo), "main", "m.bin", "-o",
                       str(planted / "m.bin"), check=False))
    assert "owned by another user" in err and not list((tmp_path / "real").iterdir())
