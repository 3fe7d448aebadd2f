"""One global `git model install`, then every clone just works (issue 15); git-model named by
its absolute path, so a virtualenv off PATH changes nothing (issue 19); help, env."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import git

EXE = str(Path(sys.executable).parent / "git-model")
POINTER_START = b"version https://git-lfs"


def _env(home: Path, venv_on_path: bool) -> dict[str, str]:
    path = "/usr/bin:/bin"
    return dict(os.environ, HOME=str(home),
                PATH=(str(Path(EXE).parent) + os.pathsep + path) if venv_on_path else path)


def _run(cwd: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout.decode()}\n{proc.stderr.decode()}"
    return proc


@pytest.mark.slow
def test_one_global_install_then_a_clone_restores_models_with_the_venv_off_path(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    author, user = _env(home, venv_on_path=True), _env(home, venv_on_path=False)
    _run(tmp_path, user, EXE, "install")  # once per machine; a pipx or venv path, not PATH
    assert "filter-process" in (home / ".gitconfig").read_text()

    origin, work, clone = tmp_path / "origin.git", tmp_path / "work", tmp_path / "clone"
    _run(tmp_path, author, "git", "init", "-q", "--bare", str(origin))
    _run(tmp_path, author, "git", "init", "-q", str(work))
    _run(work, author, "git", "model", "track", "*.safetensors")
    model = os.urandom(300_000)
    (work / "model.safetensors").write_bytes(model)
    _run(work, author, "git", "model", "remote", "add", "shared", str(tmp_path / "store"))
    _run(work, author, "git", "add", "-A")
    _run(work, author, "git", "commit", "-qm", "v1")
    assert int(git(work, "cat-file", "-s", "HEAD:model.safetensors").stdout) < 200
    _run(work, author, "git", "remote", "add", "origin", str(origin))
    _run(work, author, "git", "push", "-q", "origin", "main")
    _run(work, author, "git", "model", "push")

    _run(tmp_path, user, "git", "clone", "-q", str(origin), str(clone))  # nothing else
    assert (clone / "model.safetensors").read_bytes() == model
    assert _run(clone, user, "git", "status", "--porcelain").stdout == b""
    for name in ("pre-commit", "post-checkout"):  # put in place by the filter, as git-lfs does
        assert "installed by `git model install`" in (clone / ".git/hooks" / name).read_text()

    # a modified model checked out again: git unlinks first, then the filter must start
    (clone / "model.safetensors").write_bytes(b"edited")
    _run(clone, user, "git", "checkout", "--", "model.safetensors")
    assert (clone / "model.safetensors").read_bytes() == model
    (clone / "model.safetensors").write_bytes(model[::-1])
    _run(clone, user, "git", "commit", "-qam", "v2")
    assert git(clone, "cat-file", "-p", "HEAD:model.safetensors").stdout.startswith(POINTER_START)

    _run(clone, user, EXE, "uninstall")
    assert "filter" not in (home / ".gitconfig").read_text()
    assert not (clone / ".git/hooks/pre-commit").exists()


def test_install_levels_and_uninstall_mirror_them(plain_repo, tmp_path, isolated_git):
    system = tmp_path / "system-gitconfig"
    env = dict(os.environ, GIT_CONFIG_SYSTEM=str(system))
    env.pop("GIT_CONFIG_NOSYSTEM")
    out = _run(plain_repo, env, "git", "model", "install", "--system").stdout.decode()
    assert out == "git-model installed in the system git config (hooks here too)\n"
    assert f"process = {EXE} filter-process" in system.read_text()
    _run(plain_repo, env, "git", "model", "install", "--local")
    assert git(plain_repo, "config", "--local", "filter.model.smudge").stdout.decode() \
        == f"{EXE} smudge -- %f\n"
    _run(plain_repo, env, "git", "model", "uninstall", "--local")
    assert git(plain_repo, "config", "--local", "--get-regexp", "^filter", check=False).stdout == b""
    assert not (plain_repo / ".git/hooks/pre-push").exists()
    assert "filter-process" in system.read_text()  # the other levels untouched
    assert "filter" not in (isolated_git / ".gitconfig").read_text()
    _run(plain_repo, env, "git", "model", "uninstall", "--system")
    assert "filter" not in system.read_text()


def test_install_refreshes_an_older_path_and_a_command_restores_missing_hooks(plain_repo):
    git(plain_repo, "config", "filter.model.process", "/old/venv/bin/git-model filter-process")
    git(plain_repo, "config", "filter.model.clean", "git-model clean -- %f")  # a bare name
    assert git(plain_repo, "model", "install").returncode == 0  # ours, moved: no --force
    assert git(plain_repo, "config", "--local", "filter.model.process").stdout.decode() \
        == f"{EXE} filter-process\n"
    assert git(plain_repo, "config", "--local", "filter.model.clean").stdout.decode() \
        == f"{EXE} clean -- %f\n"
    for hook in (plain_repo / ".git/hooks").iterdir():
        hook.unlink()
    git(plain_repo, "model", "status")
    assert f"git_model={EXE};" in (plain_repo / ".git/hooks/pre-push").read_text()


def test_hooks_are_not_put_where_core_hooks_path_points_at_nothing(plain_repo, tmp_path):
    absent = tmp_path / "hooks-off"
    git(plain_repo, "config", "filter.model.process", f"{EXE} filter-process")
    git(plain_repo, "config", "core.hooksPath", str(absent))
    assert git(plain_repo, "model", "status").returncode == 0
    assert not absent.exists()
    assert not (plain_repo / ".git/hooks/pre-push").exists()


def test_env_reports_levels_hooks_cache_remote_and_lfs(repo):
    git(repo, "config", "--global", "model.fetchOnCheckout", "false")
    git(repo, "model", "remote", "add", "shared", "s3://bucket/models")
    git(repo, "config", "model.remote.shared.url", "https://me:secret@example.com/models")
    (repo / ".gitattributes").write_text((repo / ".gitattributes").read_text()
                                         + "*.onnx filter=lfs diff=lfs merge=lfs -text\n")
    git(repo, "add", ".gitattributes")
    text = git(repo, "model", "env").stdout.decode()
    assert f"filter: {EXE} filter-process (local)\n" in text
    assert "model.fetchOnCheckout=false (global)" in text.replace("fetchoncheckout", "fetchOnCheckout")
    assert "pre-commit git-model, post-checkout git-model" in text
    assert "remote: shared https://***@example.com/models (local override)" in text
    assert "git-lfs also tracks: *.onnx" in text
    assert "secret" not in text
    out = git(repo, "model", "env", "--json").stdout
    assert b"secret" not in out
    info = json.loads(out)
    assert info["repository"]["cache"]["path"] == str(repo / ".git" / "model")
    assert {e["scope"] for e in info["filter"]} == {"local"}
    assert info["versions"]["git"][0].isdigit() and info["executable"] == EXE


def test_help_every_way_a_user_asks(repo):
    env = dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="100")
    env.pop("MANPATH", None)  # man-db finds <venv>/share/man from <venv>/bin on PATH
    manual = git(repo, "model", "--help", env=env).stdout.decode()  # git runs `man git-model`
    assert "GIT-MODEL(1)" in manual and "git-model-push(1)" in manual.replace("\u2010", "-")
    page = subprocess.run(["man", "git-model-push"], env=env, capture_output=True)
    assert page.returncode == 0, page.stderr.decode()
    assert "Upload the objects of REVs" in page.stdout.decode()
    assert "git model push --all --dry-run" in page.stdout.decode().replace("\u2010", "-")
    usage = git(repo, "model", "help", "push").stdout.decode()
    assert usage.startswith("Usage: git model push [OPTIONS] [REMOTE] [REV]...")
    assert "Usage: git model [OPTIONS] COMMAND" in git(repo, "model", "help").stdout.decode() \
        .replace("[COMMAND]", "COMMAND")
    missing = git(repo, "model", "help", "pushh", check=False)
    assert missing.returncode == 1 and b"no such command 'pushh'" in missing.stderr


def test_every_command_has_an_example_and_a_man_page():
    from gitmodel.cli.examples import add_examples
    from gitmodel.cli.main import main
    from gitmodel.cli.manpages import pages
    add_examples(main)
    rendered = dict(pages(main))
    assert {"git-model.1", "git-model-push.1", "git-model-remote-add.1"} <= set(rendered)
    for name, text in rendered.items():
        assert "Example:" in text, f"{name}: no example in the command's help"
    installed = Path(EXE).parent.parent / "share" / "man" / "man1"  # by the build hook
    assert (installed / "git-model-push.1").read_text().startswith('.TH "GIT-MODEL-PUSH" 1')


def test_hooks_put_in_a_clone_do_not_run_its_committed_stages(repo, tmp_path):
    marker = tmp_path / "ran"
    (repo / "params.json").write_text("{}\n")
    (repo / "model.safetensors").write_bytes(os.urandom(1000))
    (repo / ".gitmodel").write_text(f'[stage "train"]\n\tcmd = touch {marker}\n'
                                    "\tdeps = params.json\n\touts = model.safetensors\n")
    git(repo, "config", "model.onCommit", "off")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "stages")
    git(tmp_path, "model", "install")  # global: the clone gets hooks from its filter
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    assert "installed by `git model install`" in (clone / ".git/hooks/pre-commit").read_text()
    (clone / "params.json").write_text('{"lr": 1}\n')
    commit = git(clone, "commit", "-qam", "tweak", check=False)
    assert b"not trusted in this clone" in commit.stderr and commit.returncode == 1
    assert not marker.exists()


def _stderr_on_a_terminal(cwd: Path, *args: str) -> bytes:
    """What `git ARGS` writes to stderr when stderr is a terminal (a pty read to the end)."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))  # 0 columns: no bar
    proc = subprocess.Popen(["git", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 5)
        try:
            chunk = os.read(master, 65536) if ready else b""
        except OSError:  # EIO: every writer closed the terminal
            chunk = b""
        if not chunk and proc.poll() is not None:
            break
        seen += chunk
    os.close(master)
    assert proc.wait() == 0, seen
    return seen


def test_progress_on_a_terminal_only_and_never_with_q(repo, tmp_path):
    (repo / "model.safetensors").write_bytes(os.urandom(200_000))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    git(repo, "model", "remote", "add", "a", str(tmp_path / "a"))
    git(repo, "model", "remote", "add", "b", str(tmp_path / "b"))
    assert b"push a:" in _stderr_on_a_terminal(repo, "model", "push", "a")
    assert b"push b:" not in _stderr_on_a_terminal(repo, "model", "-q", "push", "b")
    assert b"push" not in git(repo, "model", "push", "--all", "b").stderr  # not a terminal


@pytest.mark.skipif(not Path("/usr/share/bash-completion/completions/git").exists(),
                    reason="git's bash completion is not installed")
def test_bash_completion_through_git_model_tab(repo):
    script = f"""
source /usr/share/bash-completion/completions/git
eval "$({EXE} completion bash)"
COMP_WORDS=(git model push --d); COMP_CWORD=3; COMP_LINE="git model push --d"
COMP_POINT=${{#COMP_LINE}}
__git_wrap__git_main git --d push
echo "${{COMPREPLY[@]}}"
"""
    out = subprocess.run(["bash", "-c", script], cwd=repo, capture_output=True, check=True)
    assert out.stdout.split() == [b"--dry-run"]


def test_a_checkout_with_git_model_not_startable_fails_and_install_restores(repo):
    """Issue 19.3: with the executable gone (a moved venv) and filter.model.required=true, git
    fails the checkout (exit != 0) after unlinking the file: only the edit the user asked to
    discard is gone, the commit is intact. required=false would be worse: a failed clean would
    commit the raw model to Git. `git model install` refreshes the path and the checkout works."""
    (repo / "model.safetensors").write_bytes(b"weights " * 1000)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    for key, args in (("process", "filter-process"), ("smudge", "smudge -- %f"),
                      ("clean", "clean -- %f")):
        git(repo, "config", f"filter.model.{key}", f"/moved/venv/bin/git-model {args}")
    (repo / "model.safetensors").write_bytes(b"edited")
    assert git(repo, "checkout", "--", "model.safetensors", check=False).returncode != 0
    assert git(repo, "cat-file", "-p", "HEAD:model.safetensors").stdout.startswith(POINTER_START)
    git(repo, "model", "install", "--local")
    git(repo, "checkout", "--", "model.safetensors")
    assert (repo / "model.safetensors").read_bytes() == b"weights " * 1000
