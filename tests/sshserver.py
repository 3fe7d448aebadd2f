"""OpenSSH's sshd on 127.0.0.1 for the tests that need a real SSH host (SSH remotes, git-lfs's
`git-lfs-authenticate`): throwaway host key, one authorized key, a free port."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

SSHD = Path("/usr/sbin/sshd")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keygen(path: Path) -> str:
    """A new ed25519 key pair at `path`; returns the public key line."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@contextlib.contextmanager
def sshd(tmp: Path, authorized_keys: str, port: int) -> Iterator[str]:
    """Run sshd on `port` until the block ends; yields the host key line for known_hosts
    (`[127.0.0.1]:PORT KEY`). Skips the test when OpenSSH's server is not installed."""
    if not SSHD.exists():
        pytest.skip("OpenSSH server not installed (/usr/sbin/sshd; Debian openssh-server)")
    host_pub = keygen(tmp / "host_key")
    (tmp / "authorized_keys").write_text(authorized_keys)
    config = tmp / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nHostKey {tmp / 'host_key'}\nPidFile {tmp / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {tmp / 'authorized_keys'}\nStrictModes no\nUsePAM no\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        "PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\nLogLevel ERROR\n")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation dir, when run as root
    proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config), "-p", str(port)],
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until it accepts connections (or has died)
            if proc.poll() is not None:
                pytest.fail(f"sshd exited: {proc.stderr.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail(f"sshd did not accept connections on port {port} within 10 s")
        yield f"[127.0.0.1]:{port} {host_pub}\n"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
