"""`git model trust`: let this clone run the stages and use the remotes its `.gitmodel` declares.

A clone runs none of the repository's stage commands on commit and uploads to none of its
committed remote URLs until the user has read them and said so (see gitmodel/git/trust.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from gitmodel.errors import UserError
from gitmodel.git import trust as record
from gitmodel.git.repo import Repo
from gitmodel.pipeline.stages import load


@dataclass(frozen=True)
class Trusted:
    kind: str  # "stage" or "remote"
    name: str
    value: str  # the command, or the URL (without credentials)

    def line(self) -> str:
        what = "runs" if self.kind == "stage" else "uploads to"
        return f"trusted {self.kind} {self.name}: {what} {self.value}"

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "value": self.value}


def trust(repo: Repo) -> list[Trusted]:
    """Trust every stage command and remote URL in `.gitmodel` as it is now."""
    from gitmodel.transfer.remotes import redact
    load(repo.top)  # a .gitmodel the hook could not read is not trusted either
    found = record.trust_all(repo)
    if not found:
        raise UserError(".gitmodel declares no stage and no remote: nothing to trust")
    result = []
    for key, value in sorted(found.items()):
        kind, _, name = key.partition(".")
        result.append(Trusted(kind, name, value if kind == "stage" else redact(value)))
    return result
