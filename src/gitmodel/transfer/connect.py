"""Opening a remote's storage, whatever its kind: a Git LFS server (http/https, lfs.py)
or storage reached through fsspec (remotes.py)."""
from __future__ import annotations

from pathlib import Path

from gitmodel.transfer import lfs, remotes


def open_backend(repo_top: Path | None, remote: remotes.Remote) -> remotes.Backend:
    if lfs.is_lfs_url(remote.url):
        return lfs.LfsBackend(remote, repo_top)
    return remotes.open_backend(repo_top, remote)
