"""Shared remotes over real servers started by the tests: S3 (moto's HTTP server) and OpenSSH."""
from __future__ import annotations

import getpass
import random
import shutil
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

import sshserver
from conftest import git, gm


def _roundtrip(tmp_path: Path, repo: Path, url: str) -> None:
    """push (pre-push hook), clone + pull, checkout of an old commit fetching on demand."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    gm(repo, "remote", "add", "shared", url)
    rng = random.Random(url)
    v1 = rng.randbytes(3 << 20)
    (repo / "m.bin").write_bytes(v1)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "v1")
    v2 = v1[:1 << 20] + rng.randbytes(1 << 20) + v1[2 << 20:]
    (repo / "m.bin").write_bytes(v2)
    git(repo, "commit", "-qam", "v2")
    git(repo, "push", "-q", "origin", "main")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    gm(clone, "install", "--local")
    gm(clone, "pull")
    assert (clone / "m.bin").read_bytes() == v2
    git(clone, "checkout", "-q", "HEAD~1")
    assert (clone / "m.bin").read_bytes() == v1
    assert "nothing to transfer" in gm(repo, "push", "--all").stdout.decode()


# -- S3 ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def s3() -> Iterator[dict]:
    """A moto S3 server over HTTP on 127.0.0.1 that checks credentials (IAM user with a key)."""
    server_mod = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    port = sshserver.free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        # the next 4 requests go unauthenticated: make a user, its key, its policy, the bucket
        urllib.request.urlopen(urllib.request.Request(
            f"{endpoint}/moto-api/reset-auth", data=b"4", method="POST",
            headers={"Content-Type": "text/plain"})).read()
        boot = {"endpoint_url": endpoint, "region_name": "us-east-1",
                "aws_access_key_id": "boot", "aws_secret_access_key": "boot"}
        iam = boto3.client("iam", **boot)
        iam.create_user(UserName="ci")
        key = iam.create_access_key(UserName="ci")["AccessKey"]
        iam.put_user_policy(UserName="ci", PolicyName="s3", PolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
            '"Action": "s3:*", "Resource": "*"}]}'))
        boto3.client("s3", **boot).create_bucket(Bucket="team-models")
        yield {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
               "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"], "AWS_DEFAULT_REGION": "us-east-1"}
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3: dict, monkeypatch: pytest.MonkeyPatch) -> dict:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3.items():
        monkeypatch.setenv(name, value)
    return s3


def test_s3_push_clone_pull_checkout(tmp_path: Path, repo: Path, s3_env: dict) -> None:
    _roundtrip(tmp_path, repo, "s3://team-models/project-x")


def test_s3_push_of_many_small_files_is_a_few_requests(tmp_path: Path, repo: Path, s3_env: dict,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """300 small files: one pack and its index, and a few listings (20,000 requests for
    10,000 files before packs); the clone pulls them back by ranged reads."""
    from gitmodel.commands import sync
    from gitmodel.git.repo import Repo
    from gitmodel.transfer import remotes
    gm(repo, "remote", "add", "shared", "s3://team-models/many")
    rng = random.Random(7)
    files = {f"d{i % 10}/f{i}.bin": rng.randbytes(4096 + i) for i in range(300)}
    for path, data in files.items():
        (repo / path).parent.mkdir(exist_ok=True)
        (repo / path).write_bytes(data)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    calls: list[str] = []
    for method in ("exists", "names", "read", "read_range", "write"):
        real = getattr(remotes.Backend, method)
        monkeypatch.setattr(remotes.Backend, method,
                            lambda self, *a, _r=real, _m=method: calls.append(_m) or _r(self, *a))
    monkeypatch.chdir(repo)
    _, stats = sync.push(Repo.discover(), ["HEAD"], False)
    # writes: the pack, its index, the remote's new generation token (transfer/recent.py)
    assert stats.objects == 300 and len(calls) <= 8 and calls.count("write") == 3, calls
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(repo, "push", "-q", str(origin), "HEAD:refs/heads/main")
    git(origin, "symbolic-ref", "HEAD", "refs/heads/main")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    gm(clone, "install", "--local")
    calls.clear()
    monkeypatch.chdir(clone)
    _, stats, done, _ = sync.pull(Repo.discover(), None)
    # the pack listed and its index read, then its manifests and chunks a span at a time
    # (600 ranged GETs before, one per object)
    assert stats.objects == 300 and len(done) == 300 and len(calls) <= 6, calls
    assert all((clone / p).read_bytes() == data for p, data in files.items())


def test_s3_fetch_reads_only_the_pack_indexes_it_has_not_read_before(
        tmp_path: Path, repo: Path, s3_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each push of small files adds a pack to the remote; a clone's pull reads the three
    there, its next pull only the one pushed since, and a kept copy that is damaged is
    read again from the remote (a pull does not trust it)."""
    from gitmodel.commands import sync
    from gitmodel.git.repo import Repo
    from gitmodel.transfer import remotes
    gm(repo, "remote", "add", "shared", "s3://team-models/indexes")
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))

    def commit_and_push(i: int) -> None:
        (repo / f"s{i}.bin").write_bytes(random.Random(i).randbytes(5000))
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"v{i}")
        git(repo, "push", "-q", str(origin), "HEAD:refs/heads/main")  # pre-push: a pack each

    for i in range(3):
        commit_and_push(i)
    git(origin, "symbolic-ref", "HEAD", "refs/heads/main")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    gm(clone, "install", "--local")
    git(clone, "config", "model.fetchOnCheckout", "false")  # git pull leaves pointers: all
    indexes: list[str] = []  # reads are this process's (sync.pull)
    real = remotes.Backend.read
    monkeypatch.setattr(remotes.Backend, "read", lambda self, key, *a: (
        indexes.append(key) if key.endswith(".idx") else None) or real(self, key, *a))
    monkeypatch.chdir(clone)

    def pull() -> int:
        indexes.clear()
        git(clone, "pull", "-q", "origin", "main")
        sync.pull(Repo.discover(), None)
        return len(indexes)

    assert pull() == 3
    commit_and_push(3)
    assert pull() == 1
    assert all((clone / f"s{i}.bin").read_bytes() == random.Random(i).randbytes(5000)
               for i in range(4))
    kept = sorted((clone / ".git/model/remote-packs").rglob("*.idx"))
    assert len(kept) == 4
    kept[0].write_bytes(b"damaged")
    commit_and_push(4)
    assert pull() == 2  # the new pack's, and the damaged copy's again
    assert (clone / "s4.bin").read_bytes() == random.Random(4).randbytes(5000)


def test_s3_wrong_credentials_one_line(repo: Path, s3_env: dict,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    gm(repo, "remote", "add", "shared", "s3://team-models/creds")
    (repo / "m.bin").write_bytes(b"x" * 5000)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "m")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    proc = gm(repo, "push", check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and len(err.strip().splitlines()) == 1, err
    assert "model remote 'shared'" in err and "credentials were rejected" in err, err
    assert "not-the-secret" not in err and s3_env["AWS_ACCESS_KEY_ID"] not in err


def test_s3_unreachable_is_transient_exit_4_then_push_works(repo: Path, s3_env: dict,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A dead endpoint is retried by one layer (ours), then reported as worth retrying (exit 4,
    one line); nothing half-written blocks the push once the server answers."""
    gm(repo, "remote", "add", "shared", "s3://team-models/unreachable")
    (repo / "m.bin").write_bytes(random.Random(4).randbytes(300_000))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "m")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{sshserver.free_port()}")
    proc = gm(repo, "push", "--all", check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 4 and len(err.strip().splitlines()) == 1, err
    assert "model remote 'shared'" in err and "try again later" in err, err
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_env["AWS_ENDPOINT_URL"])
    assert "1 object" in gm(repo, "push", "--all").stdout.decode()


# -- SSH -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sshd(tmp_path_factory, isolated_git: Path) -> Iterator[dict]:
    """OpenSSH's sshd on 127.0.0.1 with throwaway keys; our user key in ~/.ssh."""
    pytest.importorskip("sshfs")
    tmp = tmp_path_factory.mktemp("sshd")
    dot_ssh = isolated_git / ".ssh"
    dot_ssh.mkdir(mode=0o700, exist_ok=True)
    port = sshserver.free_port()
    with sshserver.sshd(tmp, sshserver.keygen(dot_ssh / "id_ed25519") + "\n", port) as host:
        (dot_ssh / "known_hosts").write_text(host)
        yield {"port": port, "key": dot_ssh / "id_ed25519", "tmp": tmp}


@pytest.fixture
def ssh_env(sshd: dict, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return sshd


def test_ssh_push_clone_pull_checkout(tmp_path: Path, repo: Path, ssh_env: dict) -> None:
    url = f"ssh://{getpass.getuser()}@127.0.0.1:{ssh_env['port']}{tmp_path}/remote-models"
    _roundtrip(tmp_path, repo, url)
    assert list((tmp_path / "remote-models" / "manifests").glob("*/*"))
    assert not list((tmp_path / "remote-models" / "tmp").glob("*"))


def test_ssh_wrong_key_one_line(tmp_path: Path, repo: Path, ssh_env: dict) -> None:
    key = ssh_env["key"]
    saved = tmp_path / "saved"
    saved.mkdir()
    for path in (key, key.with_suffix(".pub")):
        shutil.move(path, saved / path.name)
    try:
        sshserver.keygen(key)  # a key the server does not know
        url = f"sftp://{getpass.getuser()}@127.0.0.1:{ssh_env['port']}{tmp_path}/models"
        gm(repo, "remote", "add", "shared", url)
        (repo / "m.bin").write_bytes(b"y" * 5000)
        git(repo, "add", ".")
        git(repo, "commit", "-qm", "m")
        proc = gm(repo, "push", check=False)
    finally:
        for path in (key, key.with_suffix(".pub")):
            path.unlink(missing_ok=True)
            shutil.move(saved / path.name, path)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and len(err.strip().splitlines()) == 1, err
    assert "model remote 'shared'" in err and "authentication failed" in err, err
