"""Build hook: man pages for git-model and each subcommand, rendered from the click
commands (src/gitmodel/cli/manpages.py) into the wheel's shared data, so that pip, a
venv or pipx installs them to <prefix>/share/man/man1, where `man` looks for
programs in <prefix>/bin (and git sends `git model --help` to `man git-model`)."""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ManPages(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        self._out = Path(tempfile.mkdtemp(prefix="git-model-man-"))
        sys.path.insert(0, str(Path(self.root) / "src"))
        try:
            from gitmodel.cli.manpages import write
            for page in write(self._out):
                build_data["shared_data"][str(page)] = f"share/man/man1/{page.name}"
        finally:
            sys.path.pop(0)

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        shutil.rmtree(self._out, ignore_errors=True)
