"""The three tools, each driven the way its documentation tells a user to.

Every tool gets the same scenario (scenario.py); what differs is which commands
a user types for each step. Timed steps contain only those commands; file
copies and correctness checks around them are not timed.
"""
from __future__ import annotations

import os
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

from measure import Runner, Sample

BENCH = Path(__file__).resolve().parent
DVC_VENV = BENCH / ".venv-dvc"
PATTERNS = ("*.safetensors", "*.bin")
COMMIT = ("git", "commit", "-q", "-m")


@dataclass(frozen=True)
class Layout:
    """Where one tool's run keeps its files, all under one throwaway folder."""

    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def repo(self) -> Path:
        return self.root / "repo"

    @property
    def remote_git(self) -> Path:
        return self.root / "remote.git"

    @property
    def remote_store(self) -> Path:
        """The tool's own object remote (git-lfs keeps its objects inside remote.git)."""
        return self.root / "store-remote"

    @property
    def clone(self) -> Path:
        return self.root / "clone"


def git_checkout(tag: str, decode: bool, verb: tuple[str, ...] = ("checkout",)) -> list[str]:
    """`git checkout` (or `verb`, such as reset --hard); with `decode`, git-model keeps no
    version whole for it (model.checkout.keepWhole=0: other tools ignore the key), so the
    rows about decoding deltas and streaming a large file time that, not a relink of a kept
    copy."""
    keep = ["-c", "model.checkout.keepWhole=0"] if decode else []
    return ["git", *keep, *verb, "-q", tag]


RESET = ("reset", "--hard")


class Tool:
    """One tool's commands for each step of the scenario."""

    name = ""
    store = ""  # the object store after all versions, relative to the repository
    kept = ""  # whole copies of versions kept beside the store (hard links), if any

    def path_prefix(self) -> list[str]:
        """Folders to put before PATH so this tool's binaries are found."""
        return [os.path.dirname(sys.executable)]

    def version_cmd(self) -> list[str]:
        raise NotImplementedError

    def remote_missing(self, runner: Runner, cwd: Path) -> str | None:
        """Why push/pull cannot be measured for this tool here, or None when they can."""
        return None

    def setup(self, runner: Runner, lay: Layout) -> None:
        raise NotImplementedError

    def add_commit(self, runner: Runner, repo: Path, path: str, tag: str) -> Sample:
        return runner.steps([["git", "add", "-A"], [*COMMIT, tag]], repo)

    def checkout(self, runner: Runner, repo: Path, tag: str, decode: bool = False) -> Sample:
        return runner.run(git_checkout(tag, decode), repo)

    def reset_hard(self, runner: Runner, repo: Path, tag: str) -> Sample:
        """`git reset --hard TAG` from a detached HEAD, the model decoded (not relinked)."""
        return runner.run(git_checkout(tag, True, RESET), repo)

    filter_config: tuple[str, ...] = ()  # what a global install sets for a smudging clone

    def smudge_clone(self, runner: Runner, lay: Layout, branch: str, dest: Path) -> Sample | None:
        """`git clone -b BRANCH` with the tool's filter set as a global install would set it
        (`clone -c` writes it into the clone's config before its checkout): the checkout
        smudges the model files from the remote the repository names. None for a tool
        without a smudge filter."""
        if not self.filter_config:
            return None
        config = [arg for key in self.filter_config for arg in ("-c", key)]
        return runner.run(["git", "clone", *config, "-q", "-b", branch, str(lay.remote_git),
                           str(dest)], lay.root)

    def status(self, runner: Runner, repo: Path) -> Sample:
        return runner.run(["git", "status"], repo)

    def push(self, runner: Runner, repo: Path, first: bool) -> Sample:
        return runner.run(["git", "push", "-q", "origin", "main"], repo)

    pushes_tags = True  # a git push of a tag uploads that version's objects (pre-push hook)

    def push_tag(self, runner: Runner, repo: Path, tag: str) -> Sample:
        return runner.run(["git", "push", "-q", "origin", tag], repo)

    def clone_pull(self, runner: Runner, lay: Layout) -> Sample:
        cloned = runner.run(["git", "clone", "-q", str(lay.remote_git), str(lay.clone)], lay.root)
        return cloned + runner.steps(self.pull_cmds(), lay.clone)

    def pull_cmds(self) -> list[list[str]]:
        raise NotImplementedError

    def remote_dirs(self, lay: Layout) -> list[Path]:
        return [lay.remote_git, lay.remote_store]

    def migrate_cmds(self, options: list[str]) -> tuple[list[str], list[list[str]]] | None:
        """Install in a repository; the commands that rewrite its history and leave the model
        files in the working tree (None: the tool cannot)."""
        return None


def init_repo(runner: Runner, lay: Layout) -> None:
    """An empty repository and an empty bare remote named origin."""
    lay.repo.mkdir(parents=True)
    lay.remote_store.mkdir()
    runner.output(["git", "init", "-q", "--bare", str(lay.remote_git)], lay.root)
    runner.output(["git", "init", "-q"], lay.repo)
    runner.output(["git", "remote", "add", "origin", str(lay.remote_git)], lay.repo)


def commit_setup(runner: Runner, repo: Path) -> None:
    runner.output(["git", "add", "-A"], repo)
    runner.output([*COMMIT, "setup"], repo)


class GitModel(Tool):
    name = "git-model"
    store = ".git/model"
    kept = ".git/model-whole"
    filter_config = ("filter.model.process=git-model filter-process", "filter.model.required=true")

    def version_cmd(self) -> list[str]:
        return ["git", "model", "--version"]

    def remote_missing(self, runner: Runner, cwd: Path) -> str | None:
        """Remotes are another engineer's work: until `git model remote` exists, say so."""
        probe = subprocess.run(["git", "model", "remote", "--help"], cwd=cwd, env=runner.env,
                               capture_output=True)
        return None if probe.returncode == 0 else "git model remote not available"

    def setup(self, runner: Runner, lay: Layout) -> None:
        init_repo(runner, lay)
        runner.output(["git", "model", "install", "--local"], lay.repo)
        runner.output(["git", "model", "track", *PATTERNS], lay.repo)
        if self.remote_missing(runner, lay.repo) is None:
            runner.output(["git", "model", "remote", "add", "origin", str(lay.remote_store)],
                          lay.repo)
        commit_setup(runner, lay.repo)

    def pull_cmds(self) -> list[list[str]]:
        return [["git", "model", "install", "--local"], ["git", "model", "pull"]]

    def migrate_cmds(self, options: list[str]) -> tuple[list[str], list[list[str]]] | None:
        return ["git", "model", "install", "--local"], [["git", "model", "migrate", "import", *options]]


class GitLfs(Tool):
    name = "git-lfs"
    store = ".git/lfs/objects"
    filter_config = ("filter.lfs.process=git-lfs filter-process", "filter.lfs.required=true")

    def version_cmd(self) -> list[str]:
        return ["git", "lfs", "version"]

    def setup(self, runner: Runner, lay: Layout) -> None:
        """Objects go to the bare remote itself: git-lfs's file:// agent needs a git repository there."""
        init_repo(runner, lay)
        runner.output(["git", "lfs", "install", "--local"], lay.repo)
        runner.output(["git", "lfs", "track", *PATTERNS], lay.repo)
        runner.output(["git", "config", "-f", ".lfsconfig", "lfs.url",
                       lay.remote_git.as_uri()], lay.repo)
        commit_setup(runner, lay.repo)

    def pull_cmds(self) -> list[list[str]]:
        return [["git", "lfs", "install", "--local"], ["git", "lfs", "pull"]]

    def migrate_cmds(self, options: list[str]) -> tuple[list[str], list[list[str]]] | None:
        """git-lfs 3.3's migrate leaves the checked-out model files as pointers (the tree looks
        clean): `git lfs checkout` writes them."""
        return ["git", "lfs", "install", "--local"], [["git", "lfs", "migrate", "import", *options],
                                                      ["git", "lfs", "checkout"]]


class Dvc(Tool):
    name = "dvc"
    store = ".dvc/cache"

    def path_prefix(self) -> list[str]:
        return [str(DVC_VENV / "bin"), *super().path_prefix()]

    def version_cmd(self) -> list[str]:
        return ["dvc", "--version"]

    def setup(self, runner: Runner, lay: Layout) -> None:
        init_repo(runner, lay)
        runner.output(["dvc", "init", "-q"], lay.repo)
        runner.output(["dvc", "remote", "add", "-d", "local", str(lay.remote_store)], lay.repo)
        commit_setup(runner, lay.repo)

    def add_commit(self, runner: Runner, repo: Path, path: str, tag: str) -> Sample:
        return runner.steps([["dvc", "add", "-q", path], ["git", "add", "-A"], [*COMMIT, tag]],
                            repo)

    def checkout(self, runner: Runner, repo: Path, tag: str, decode: bool = False) -> Sample:
        return runner.steps([git_checkout(tag, decode), ["dvc", "checkout", "-q"]], repo)

    def reset_hard(self, runner: Runner, repo: Path, tag: str) -> Sample:
        return runner.steps([git_checkout(tag, True, RESET), ["dvc", "checkout", "-q"]], repo)

    def status(self, runner: Runner, repo: Path) -> Sample:
        return runner.steps([["git", "status"], ["dvc", "status"]], repo)

    pushes_tags = False  # dvc push sends the workspace's version, not a tag's

    def push(self, runner: Runner, repo: Path, first: bool) -> Sample:
        """The first push sends every version (--all-commits); later ones the workspace's."""
        dvc_push = ["dvc", "push", "-q", *(["--all-commits"] if first else [])]
        return runner.steps([["git", "push", "-q", "origin", "main"], dvc_push], repo)

    def pull_cmds(self) -> list[list[str]]:
        return [["dvc", "pull", "-q"]]


TOOLS: dict[str, Tool] = {t.name: t for t in (GitModel(), GitLfs(), Dvc())}


def ensure_dvc() -> None:
    """DVC lives in its own venv (bench/.venv-dvc) so its dependencies never meet ours."""
    if (DVC_VENV / "bin" / "dvc").is_file():
        return
    print(f"creating {DVC_VENV} and installing dvc (first use only)", flush=True)
    venv.create(DVC_VENV, with_pip=True)
    subprocess.run([str(DVC_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "dvc>=3"],
                   check=True)


def isolated_env(lay: Layout, tool: Tool) -> dict[str, str]:
    """An environment where no user or system config reaches the tool, and nothing leaks out."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GIT_", "DVC_", "XDG_"))
           and k not in ("VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE")}
    lay.home.mkdir(parents=True, exist_ok=True)
    (lay.home / "run").mkdir(mode=0o700, exist_ok=True)
    env.update({
        "HOME": str(lay.home),
        # git-model's warm server (cli/warm.py) per layout, as a login's /run/user/UID:
        # it ends when the layout is removed
        "XDG_RUNTIME_DIR": str(lay.home / "run"),
        "XDG_CONFIG_HOME": str(lay.home / ".config"),
        "XDG_CACHE_HOME": str(lay.home / ".cache"),
        "XDG_DATA_HOME": str(lay.home / ".local" / "share"),
        "GIT_CONFIG_GLOBAL": str(lay.home / ".gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CEILING_DIRECTORIES": str(lay.root.parent),  # never find the project repo around
        "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
        # Python tools run from compiled bytecode, as an installed package does (pip compiles
        # at install time): with PYTHONDONTWRITEBYTECODE inherited, every git-model (and dvc)
        # process recompiled what it imports, ~35 ms of a 100 ms `git model status`
        "PYTHONPYCACHEPREFIX": str(lay.home / "pycache"),
        "DVC_NO_ANALYTICS": "1",
        "DVC_STUDIO_OFFLINE": "1",
        "DVC_GLOBAL_CONFIG_DIR": str(lay.home / ".config" / "dvc"),
        "DVC_SYSTEM_CONFIG_DIR": str(lay.home / "etc-dvc"),
        "DVC_SITE_CACHE_DIR": str(lay.home / "dvc-site-cache"),
        "PATH": os.pathsep.join([*tool.path_prefix(), os.environ.get("PATH", "")]),
    })
    (lay.home / ".gitconfig").write_text(
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    return env
