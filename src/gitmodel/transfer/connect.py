"""Opening a remote's storage, whatever its kind: a Git LFS server (http/https, lfs.py)
or storage reached through fsspec (remotes.py)."""
from __future__ import annotations

from pathlib import Path

from gitmodel.git import sshauth
from gitmodel.transfer import lfs, remotes


def open_backend(repo_top: Path | None, remote: remotes.Remote) -> remotes.Backend:
    if remotes.is_lfs_url(remote.url):
        ssh = sshauth.ssh_remote_url(repo_top) if repo_top is not None else None
        if ssh is not None and lfs.lfs_url_of(ssh) != remote.url.rstrip("/"):
            ssh = None  # git-lfs-authenticate speaks for the endpoint derived from that remote only
        return lfs.LfsBackend(remote, repo_top, ssh)
    return remotes.open_backend(repo_top, remote)
