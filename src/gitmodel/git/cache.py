"""The repository's cache: the store under `.git/model`, configured by git config.

Here rather than in `filter/` (where it was) so that every command can open the
store without importing the filter, and the store itself stays free of git.
"""
from __future__ import annotations

from gitmodel.git.repo import Repo
from gitmodel.store.objects import Store


def open_store(repo: Repo) -> Store:
    return Store(repo.model_dir, fsync=repo.config_bool("model.fsync", False))
