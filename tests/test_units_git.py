"""The git layer's config reader: one `git config --list` per process, read as git reads it."""
from __future__ import annotations

import subprocess
from pathlib import Path

from gitmodel.git.repo import Repo


def test_config_is_read_the_way_git_reads_it(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".git/config").write_text(
        (tmp_path / ".git/config").read_text()
        + '[Model]\n\tFetchOnCheckout = off\n\tbare\n[model "Remote.Shared"]\n\tURL = /srv/a\n'
        + "[model]\n\tfetchOnCheckout = yes\n\tbroken = maybe\n\tmulti = a\n\tmulti = b\n")
    repo = Repo.discover(tmp_path)
    assert repo.config_bool("model.fetchOnCheckout", False) is True  # the last one wins
    assert repo.config_bool("MODEL.BARE", False) is True             # a bare key is true
    assert repo.config_bool("model.broken", True) is True            # unreadable: the default
    assert repo.config_bool("model.unset", False) is False
    assert repo.config("model.Remote.Shared.url") == "/srv/a"        # subsection keeps its case
    assert repo.config("model.remote.shared.url") is None
    assert repo.config("model.multi") == "b"
    assert repo.config("model.bare") == ""
    assert repo.config("model.unset", "x") == "x"
