"""Which git command started this filter process, read from /proc.

The filter may hand a large file's writing to its own exit (filter/process.py,
"deferred smudge") only when the git command that asked for it writes the working
tree and nothing else needs the bytes before git exits. The filter protocol does not
say which command that is (the `treeish`/`blob` metadata is the same for `git
checkout` and `git archive`), so the command line of the git process is read.
Anything unsure (no /proc, a git started by another git, an unknown command) answers
None, and the filter streams as before.
"""
from __future__ import annotations

import os

# Commands that write smudged content only into the working tree, run no user command
# between writing and exiting (other than the hooks git-model's post-checkout shim runs
# first), and are not driven by another git process.
WORKTREE_WRITERS = frozenset({"checkout", "switch", "clone", "reset", "restore", "read-tree",
                              "sparse-checkout"})
# Global options that take their value as the next argument (git.c, handle_options).
_WITH_VALUE = frozenset({"-c", "-C", "--git-dir", "--work-tree", "--namespace",
                         "--config-env", "--super-prefix", "--list-cmds"})
_SHELLS = frozenset({"sh", "dash", "bash"})


def _cmdline(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            raw = handle.read(1 << 16)
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0")[:-1]] or None


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read(4096)
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2:].split()  # after "(comm)": state, ppid, …
    return int(fields[1]) if len(fields) > 1 else None


def subcommand(argv: list[str]) -> str | None:
    """`checkout` for `git -c x=y -C dir checkout main`; None when it is not plain git."""
    if not argv or os.path.basename(argv[0]) != "git":
        return None
    args = iter(argv[1:])
    for arg in args:
        if arg in _WITH_VALUE:
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


# The process git started, when this is not it: a worker of the warm server (cli/warm.py)
# works for that client.
ORIGIN: int | None = None


def git_pid(pid: int | None = None) -> int | None:
    """The process id of the git that started this process (through `sh -c` or not)."""
    ppid = _parent(pid or ORIGIN or os.getpid())
    argv = _cmdline(ppid) if ppid else None
    if ppid and argv and os.path.basename(argv[0]) in _SHELLS:
        ppid = _parent(ppid)
    return ppid


def git_command(pid: int | None = None) -> tuple[str, list[str]] | None:
    """(subcommand, argv) of the top-level git process that started this process.

    git starts `git-model filter-process` through `sh -c` (the configured command has a
    space), so a shell between the two is skipped. A git whose own parent is git (the
    `reset --hard` that `git stash` runs, the merge `git pull` runs) gives None: the
    outer command may read the files before it exits.
    """
    ppid = git_pid(pid)
    argv = _cmdline(ppid) if ppid else None
    if not ppid or not argv:
        return None
    name = subcommand(argv)
    grand = _parent(ppid)
    outer = _cmdline(grand) if grand else None
    if name is None or (outer and os.path.basename(outer[0]) == "git"):
        return None
    return name, argv


def writes_worktree_only(pid: int | None = None) -> bool:
    """Whether the git command that started this process is one the filter may defer for."""
    found = git_command(pid)
    if found is None:
        return False
    name, argv = found
    if name == "checkout" and ("-p" in argv or "--patch" in argv):
        return False
    return name in WORKTREE_WRITERS
