"""Git LFS servers as model remotes, and git-lfs repositories adopted in place.

A real giftless server on 127.0.0.1 (bench/lfsserver.py) and the real git-lfs
client: what git-model pushes, git-lfs pulls byte for byte, and the other way.
git-lfs runs with its own HOME (its global `git lfs install`), git-model with the
test session's, so each user's machine is set up as it would be.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

import sshserver
from conftest import git, gm
from gitmodel.git.repo import Repo
from gitmodel.transfer import lfs
from lfsserver import LfsServer

pytestmark = pytest.mark.slow
ATTRS = "*.bin filter=lfs diff=lfs merge=lfs -text\n"
needs_git_lfs = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LfsServer(tmp_path_factory.mktemp("lfs-server")) as running:
        yield running


def _helper(tmp: Path, server: LfsServer, name: str, org: str = "org") -> str:
    """A `credential.helper store` file holding a token for `org`."""
    path = tmp / f"{name}-credentials"
    path.write_text(server.credential_url(org) + "\n")
    return f"store --file={path}"


def lfs_user(tmp: Path, server: LfsServer) -> dict:
    """The environment of a teammate on plain git-lfs (its own HOME, `git lfs install`)."""
    home = tmp / "lfs-home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(home)}
    git(tmp, "lfs", "install", "--skip-repo", env=env)
    git(tmp, "config", "--global", "credential.helper", _helper(tmp, server, "lfs-user"), env=env)
    return env


def write(path: Path, seed: int, size: int = 3 << 20) -> bytes:
    data = hashlib.sha256(str(seed).encode()).digest() * (size // 32)
    data = bytes(b ^ (i * 7 & 0xFF) for i, b in enumerate(data[:4096])) + data[4096:]
    path.write_bytes(data)
    return data


def new_lfs_repo(tmp: Path, server: LfsServer, name: str) -> tuple[Path, Path]:
    """A bare git remote and an empty repository whose .gitattributes and .lfsconfig
    make it a git-lfs repository on `server`."""
    bare = tmp / f"{name}.git"
    git(tmp, "init", "-q", "--bare", str(bare))
    work = tmp / f"{name}-first"
    git(tmp, "init", "-q", str(work))
    (work / ".gitattributes").write_text(ATTRS)
    (work / ".lfsconfig").write_text(f'[lfs]\n\turl = {server.endpoint("org", name)}\n')
    git(work, "remote", "add", "origin", str(bare))
    return bare, work


@needs_git_lfs
def test_mixed_team_alternates_through_one_lfs_server(tmp_path, server):
    """git-lfs pushes v0; a git-model user clones, adopts, pulls, pushes v1; git-lfs pulls v1
    and pushes v2; git-model pulls v2. Every side reads the other's bytes exactly."""
    env = lfs_user(tmp_path, server)
    bare, alice = new_lfs_repo(tmp_path, server, "team")
    v0 = write(alice / "model.bin", 0)
    git(alice, "add", ".", env=env)
    git(alice, "commit", "-qm", "v0", env=env)
    git(alice, "push", "-q", "origin", "main", env=env)
    assert not (alice / ".git" / "model").exists()

    bob = tmp_path / "bob"
    git(tmp_path, "clone", "-q", str(bare), str(bob))  # no lfs filter here: pointer text
    assert (bob / "model.bin").read_bytes().startswith(b"version https://git-lfs")
    git(bob, "config", "credential.helper", _helper(tmp_path, server, "bob"))
    out = gm(bob, "install", "--local").stdout.decode()
    assert "git-lfs repository" in out
    gm(bob, "pull")
    assert (bob / "model.bin").read_bytes() == v0
    assert gm(bob, "status").returncode == 0
    assert "model.bin" in gm(bob, "ls-files").stdout.decode()

    v1 = write(bob / "model.bin", 1)
    git(bob, "commit", "-qam", "v1")
    git(bob, "push", "-q", "origin", "main")  # pre-push hook: the object goes to the LFS server
    assert git(bob, "cat-file", "-p", "HEAD:model.bin").stdout.startswith(b"version https://git-lfs")
    summary = gm(bob, "diff", "HEAD~1", "HEAD").stdout.decode()
    assert "model.bin" in summary

    git(alice, "pull", "-q", "origin", "main", env=env)
    assert (alice / "model.bin").read_bytes() == v1  # git-lfs smudged what git-model pushed
    v2 = write(alice / "model.bin", 2)
    git(alice, "commit", "-qam", "v2", env=env)
    git(alice, "push", "-q", "origin", "main", env=env)

    git(bob, "pull", "-q", "origin", "main")  # the smudge fetches v2 from the LFS server
    assert (bob / "model.bin").read_bytes() == v2
    assert gm(bob, "fsck").returncode == 0

    carol = tmp_path / "carol"  # a fresh git-lfs clone sees all three versions
    git(tmp_path, "clone", "-q", str(bare), str(carol), env=env)
    git(carol, "lfs", "fetch", "--all", env=env)
    git(carol, "checkout", "-q", "HEAD~1", env=env)
    assert (carol / "model.bin").read_bytes() == v1


@needs_git_lfs
def test_git_model_remote_add_push_then_git_lfs_pull(tmp_path, server):
    """`git model remote add NAME https://…/info/lfs` + push; a plain git-lfs clone and
    `git lfs pull` get the same bytes; a second push uploads nothing."""
    bare, repo = new_lfs_repo(tmp_path, server, "added")
    (repo / ".lfsconfig").unlink()
    gm(repo, "install", "--local")
    git(repo, "config", "credential.helper", _helper(tmp_path, server, "gm"))
    gm(repo, "remote", "add", "hub", server.endpoint("org", "added"))
    data = write(repo / "weights.bin", 10)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "weights")
    first = gm(repo, "push").stdout.decode()
    assert "pushed 1 object" in first and "(whole files)" in first
    assert "nothing to transfer" in gm(repo, "push").stdout.decode()  # the server has it
    access = git(repo, "config", f"lfs.{server.endpoint('org', 'added')}.access").stdout
    assert access.strip() == b"basic"  # as git-lfs records it: credentials go with the first request
    assert len(list(server.objects.rglob(hashlib.sha256(data).hexdigest()))) == 1
    write(repo / "weights.bin", 11)
    git(repo, "commit", "-qam", "weights v2")
    git(repo, "push", "-q", "origin", "main")  # the pre-push hook sends v2 to the LFS remote
    pruned = gm(repo, "prune", "--recent-days", "0", "--grace", "0").stdout.decode()
    assert "pruned 1 old version" in pruned, pruned  # v1: the server was seen to hold it
    assert " - weights.bin" in gm(repo, "ls-files", "HEAD~1").stdout.decode()  # not cached now
    git(repo, "checkout", "-q", "HEAD~1")  # fetched again from the server on demand
    assert (repo / "weights.bin").read_bytes() == data
    git(repo, "checkout", "-q", "main")

    out = tmp_path / "got.bin"  # one version, no clone: pointer from git, bytes from the server
    git(tmp_path, "-c", f"credential.helper={_helper(tmp_path, server, 'get')}", "model", "get",
        str(bare), "main~1", "weights.bin", "-o", str(out), "--remote", server.endpoint("org", "added"))
    assert out.read_bytes() == data

    env = lfs_user(tmp_path, server)
    clone = tmp_path / "lfs-clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone), env={**env, "GIT_LFS_SKIP_SMUDGE": "1"})
    git(clone, "config", "lfs.url", server.endpoint("org", "added"), env=env)
    git(clone, "lfs", "pull", env=env)
    git(clone, "checkout", "-q", "HEAD~1", env=env)
    assert (clone / "weights.bin").read_bytes() == data


def test_auth_failures_are_one_line(tmp_path, server):
    """No credentials: 401; a token for another organisation: 403. One line, exit 1.
    A bearer token from the environment is accepted."""
    bare, repo = new_lfs_repo(tmp_path, server, "locked")
    gm(repo, "install", "--local")
    write(repo / "w.bin", 20, 1 << 20)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "w")
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    proc = gm(repo, "push", check=False, env=env)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "authentication failed" in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    git(repo, "config", "credential.helper", _helper(tmp_path, server, "other", org="elsewhere"))
    proc = gm(repo, "push", check=False, env=env)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "403" in err and len(err.strip().splitlines()) == 1
    git(repo, "config", "--unset", "credential.helper")
    bearer = {**env, "GIT_MODEL_LFS_TOKEN": server.token()}  # sent as Authorization: Bearer
    assert "pushed 1 object" in gm(repo, "push", env=bearer).stdout.decode()


@needs_git_lfs
def test_adopt_in_place_and_give_back(tmp_path, server):
    """A git-lfs repository with two versions in .git/lfs/objects: after `git model install`
    diff/show/ls-files/status read them without any server; uninstall leaves git-lfs whole."""
    env = lfs_user(tmp_path, server)
    _, repo = new_lfs_repo(tmp_path, server, "adopt")
    git(repo, "lfs", "install", "--local", env=env)
    write(repo / "m.bin", 30)
    git(repo, "add", ".", env=env)
    git(repo, "commit", "-qm", "v0", env=env)
    v1 = write(repo / "m.bin", 31)
    git(repo, "commit", "-qam", "v1", env=env)
    hooks_before = sorted(p.name for p in (repo / ".git" / "hooks").iterdir())
    config_before = sorted(git(repo, "config", "--local", "--list").stdout.splitlines())

    out = gm(repo, "install", "--local").stdout.decode()
    assert "imported 2 object(s)" in out and "pre-push" in out
    assert git(repo, "config", "filter.lfs.process").stdout.strip() == b"git-model filter-process"
    assert gm(repo, "diff", "HEAD~1", "HEAD").returncode == 0
    assert "m.bin" in gm(repo, "ls-files").stdout.decode()
    status = gm(repo, "status").stdout.decode()
    assert "bare pointer" not in status
    git(repo, "checkout", "-q", "HEAD~1")
    git(repo, "checkout", "-q", "main")
    assert (repo / "m.bin").read_bytes() == v1
    assert git(repo, "status", "--porcelain").stdout == b""
    assert "m.bin" in gm(repo, "show", "HEAD:m.bin").stdout.decode()
    assert gm(repo, "fsck").returncode == 0
    v2 = write(repo / "m.bin", 32)
    git(repo, "commit", "-qam", "v2 while git-model serves filter=lfs")
    assert not (repo / ".git" / "lfs" / "objects" / _sub(v2)).exists()

    gm(repo, "uninstall", "--local")
    assert (repo / ".git" / "lfs" / "objects" / _sub(v2)).read_bytes() == v2  # git-lfs has v2
    git(repo, "lfs", "fsck", env=env)
    assert sorted(p.name for p in (repo / ".git" / "hooks").iterdir()) == hooks_before
    assert sorted(git(repo, "config", "--local", "--list").stdout.splitlines()) == config_before
    assert b"m.bin" in git(repo, "lfs", "ls-files", env=env).stdout
    assert git(repo, "status", "--porcelain", env=env).stdout == b""


def _sub(data: bytes) -> str:
    oid = hashlib.sha256(data).hexdigest()
    return f"{oid[:2]}/{oid[2:4]}/{oid}"


@pytest.mark.parametrize("git_url, endpoint", [
    ("https://github.com/org/repo", "https://github.com/org/repo.git/info/lfs"),
    ("https://github.com/org/repo.git", "https://github.com/org/repo.git/info/lfs"),
    ("git@github.com:org/repo.git", "https://github.com/org/repo.git/info/lfs"),
    ("ssh://git@gitlab.com:22/g/p.git", "https://gitlab.com/g/p.git/info/lfs"),
    ("https://user:secret@huggingface.co/me/m", "https://huggingface.co/me/m.git/info/lfs"),
    ("/srv/git/repo.git", None),
])
def test_endpoint_derived_like_git_lfs(git_url, endpoint):
    assert lfs.lfs_url_of(git_url) == endpoint


def test_lfsconfig_and_lfs_url_order(plain_repo):
    git(plain_repo, "remote", "add", "origin", "https://example.com/a/b")
    repo = Repo.discover(plain_repo)
    assert lfs.derived_endpoint(repo) == "https://example.com/a/b.git/info/lfs"
    (plain_repo / ".lfsconfig").write_text("[lfs]\n\turl = https://lfs.example.com/x\n")
    assert lfs.derived_endpoint(Repo.discover(plain_repo)) == "https://lfs.example.com/x"
    git(plain_repo, "config", "lfs.url", "https://mine.example.com/y")
    assert lfs.derived_endpoint(Repo.discover(plain_repo)) == "https://mine.example.com/y"


class _Flaky:
    """A minimal LFS server on 127.0.0.1 that first answers 503 and 429 (Retry-After: 0),
    then serves `body` for any oid: retries and the sha256 check are seen for real."""

    def __init__(self, body: bytes, expires_in: int = 60) -> None:
        import http.server
        import json
        import threading
        self.calls: list[int] = []
        answers = [503, 429]
        flaky = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = answers.pop(0) if answers else 200
                flaky.calls.append(status)
                href = f"http://127.0.0.1:{self.server.server_address[1]}/get"
                out = json.dumps({"transfer": "basic", "objects": [
                    {**o, "actions": {"download": {"href": href, "expires_in": expires_in}}}
                    for o in request["objects"]]}).encode() if status == 200 else b"{}"
                self.send_response(status)
                self.send_header("Retry-After", "0")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/o/r.git/info/lfs"


def test_retries_429_and_5xx_then_verifies_sha256(tmp_path):
    from gitmodel.store.objects import Store
    from gitmodel.store.pointer import Pointer
    from gitmodel.transfer.remotes import Remote, RemoteError
    good = os.urandom(300_000)
    flaky = _Flaky(good)
    try:
        store = Store(tmp_path / "cache")
        backend = lfs.LfsBackend(Remote("flaky", flaky.url), None)
        pointer = Pointer(hashlib.sha256(good).hexdigest(), len(good))
        stats = lfs.fetch(store, backend, {pointer: "good.bin"})
        assert flaky.calls == [503, 429, 200] and stats.objects == 1
        assert store.has_object(pointer)
        liar = Pointer(hashlib.sha256(b"other" + good[5:]).hexdigest(), len(good))
        with pytest.raises(RemoteError, match="does not match its sha256"):
            lfs.fetch(store, backend, {liar: "liar.bin"})
        assert not store.has_object(liar)
    finally:
        flaky.httpd.shutdown()


@pytest.fixture
def sshd_lfs(tmp_path, server):
    """OpenSSH's sshd on 127.0.0.1 whose only key runs a `git-lfs-authenticate` that answers
    with the giftless endpoint and a bearer token (authorized_keys `command=`)."""
    import sys
    user_pub = sshserver.keygen(tmp_path / "user_key")
    answer = {"href": server.endpoint("org", "viassh"),
              "header": {"Authorization": f"Bearer {server.token()}"}, "expires_in": 600}
    script = tmp_path / "git-lfs-authenticate"
    log = tmp_path / "asked"
    script.write_text(f"#!{sys.executable}\nimport json, os\n"
                      f"open({str(log)!r}, 'a').write(os.environ['SSH_ORIGINAL_COMMAND'] + '\\n')\n"
                      f"print(json.dumps({answer!r}))\n")
    script.chmod(0o755)
    port = sshserver.free_port()
    with sshserver.sshd(tmp_path, f'command="{script}" {user_pub}\n', port) as host:
        (tmp_path / "known_hosts").write_text(host)
        ssh = (f"ssh -i {tmp_path / 'user_key'} -o UserKnownHostsFile={tmp_path / 'known_hosts'} "
               "-o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes")
        yield {"port": port, "ssh": ssh, "log": log}


@needs_git_lfs
def test_ssh_git_remote_authenticates_through_git_lfs_authenticate(tmp_path, server, sshd_lfs):
    """An adopted repository whose git remote is ssh: the LFS endpoint and its credentials
    come from `ssh … git-lfs-authenticate PATH upload|download`, as with git-lfs."""
    import getpass
    repo = tmp_path / "viassh"
    git(tmp_path, "init", "-q", str(repo))
    (repo / ".gitattributes").write_text(ATTRS)
    git(repo, "remote", "add", "origin",
        f"ssh://{getpass.getuser()}@127.0.0.1:{sshd_lfs['port']}/org/viassh.git")
    gm(repo, "install", "--local")
    data = write(repo / "m.bin", 40, 1 << 20)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "m")
    env = {**os.environ, "GIT_SSH_COMMAND": sshd_lfs["ssh"], "GIT_TERMINAL_PROMPT": "0"}
    assert "pushed 1 object" in gm(repo, "push", env=env).stdout.decode()
    shutil.rmtree(repo / ".git" / "model" / "objects")
    gm(repo, "pull", env=env)
    assert (repo / "m.bin").read_bytes() == data
    assert sshd_lfs["log"].read_text().splitlines() == [
        "git-lfs-authenticate org/viassh.git upload", "git-lfs-authenticate org/viassh.git download"]


def test_an_action_about_to_expire_is_asked_for_again(tmp_path):
    """An action whose expiry is within the margin is not used: the batch is asked again."""
    from gitmodel.store.objects import Store
    from gitmodel.store.pointer import Pointer
    from gitmodel.transfer.remotes import Remote
    good = os.urandom(1000)
    flaky = _Flaky(good, expires_in=int(lfs.EXPIRY_MARGIN / 2))
    try:
        backend = lfs.LfsBackend(Remote("flaky", flaky.url), None)
        pointer = Pointer(hashlib.sha256(good).hexdigest(), len(good))
        lfs.fetch(Store(tmp_path / "cache"), backend, {pointer: "f.bin"})
        assert flaky.calls == [503, 429, 200, 200]  # the first batch, then a fresh one
    finally:
        flaky.httpd.shutdown()
