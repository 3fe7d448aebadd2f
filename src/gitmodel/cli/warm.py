"""A warm process that git's filter (and `git model status`) runs in, forked for each
command (as Mercurial's chg).

Git starts `git-model filter-process` for every `git add`, every checkout that writes a
model file and every re-clean of a racily clean entry (each `git commit` right after
`git add`). Python itself starts in ~10 ms here, but importing the filter's modules
(sqlite3, zstandard, pathlib, subprocess, dataclasses, our store) costs ~40 ms of CPU
more, twice per commit: 0.08 s of a 0.15 s add + commit of a 4 MiB file, where git-lfs
(Go) takes 0.10 s in all. So the process git starts (the client, which imports nothing
but this module) hands its three standard streams to a server that has imported all of
that once, over a Unix socket (SCM_RIGHTS); the server forks a worker that takes on the
client's working folder, environment and umask and runs the same filter code on git's
own pipes, and the client exits with the worker's status.

What it must not change:
- Only the same user (checked with SO_PEERCRED), the same interpreter, package folder,
  PYTHON* variables and umask share a server (all are in the socket's name, and all
  but the umask checked again); a server whose loaded source files changed since it started
  refuses and exits, and the client runs the filter itself.
- A killed client takes its worker with it: the worker watches the connection and kills
  itself (SIGKILL) when it closes before the work is done, as the filter would have died
  with the client; SIGINT, SIGTERM and SIGHUP sent to the client are passed on.
- Anything unsure runs in the client as before: no usable socket folder, a refused or
  broken connection, `GIT_MODEL_SERVER=0`. The first client to find no server starts one
  (detached, its own session, standard streams on /dev/null, the working folder `/`,
  not on `sys.path`) and runs its own filter meanwhile.
- The server exits after IDLE_SECONDS without a connection or once its socket is removed,
  and holds no file open but its socket.
"""
from __future__ import annotations

import _socket
import os
import sys

IDLE_SECONDS = 600
MAGIC = b"gitmodel-server-1"
READY = b"y"
GO = b"g"
# How long a client waits for its worker (a server busy with its imports, or stopped)
# before it runs the command itself.
HANDOFF_SECONDS = 5.0
_FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP")
_BOOT = "import sys; del sys.path[0]; from gitmodel.cli.server import main; main(sys.argv[1])"


def package() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def interpreter() -> bytes:
    """What decides the code a process runs, besides its files: the interpreter, our package
    folder and the PYTHON* variables read at start-up (PYTHONPATH above all)."""
    settings = sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("PYTHON"))
    return "\1".join([sys.executable, package(), *settings]).encode(errors="surrogateescape")


def socket_path() -> str | None:
    """This user's socket for this interpreter, package and umask; None without a private
    folder for it (one that is ours, a real folder, and closed to others)."""
    import zlib
    base = os.environ.get("XDG_RUNTIME_DIR") or os.environ.get("TMPDIR") or "/tmp"
    folder = os.path.join(base, f"git-model-{os.getuid()}")
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        st = os.lstat(folder)
    except OSError:
        return None
    if not os.path.isdir(folder) or os.path.islink(folder) or st.st_uid != os.getuid() \
            or st.st_mode & 0o077:
        return None
    key = interpreter() + b"\0" + str(_umask()).encode()
    return os.path.join(folder, f"{zlib.crc32(key):08x}.sock")


# -- the client: the process git started ----------------------------------------------
def delegate(argv: list[str]) -> int | None:
    """Run `git-model ARGV` in a worker of the warm server; its exit status, or None when
    no server took it (nothing of the streams was read: the caller runs it here)."""
    if os.environ.get("GIT_MODEL_SERVER") == "0" or not sys.platform.startswith("linux"):
        return None  # elsewhere: no SO_PEERCRED, no /proc for the server's checks
    path = socket_path()
    if path is None:
        return None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        _spawn(path)
        return None
    try:
        return _handed(sock, argv)
    finally:
        sock.close()


def _handed(sock: _socket.socket, argv: list[str]) -> int | None:
    fields = [MAGIC, interpreter(), os.getcwd().encode(),
              str(os.getpid()).encode(), str(len(argv)).encode(),
              *(os.fsencode(a) for a in argv),
              *(os.fsencode(k) + b"=" + os.fsencode(v) for k, v in os.environ.items())]
    body = b"\0".join(fields)
    fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))
    try:
        sock.settimeout(HANDOFF_SECONDS)
        sock.sendall(len(body).to_bytes(4, "little") + body)
        if sock.recv(1) != READY:
            return None  # refused (a server of older code exits: the next client starts one)
        # The streams go only to a server seen answering: streams sent into a socket nobody
        # reads would stay open there, and whoever waits for git's output would wait too.
        sock.sendmsg([READY], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        worker = _read_int(sock)
        if not worker:
            return None
        sock.sendall(GO)  # from here on the streams are the worker's, not before
        sock.settimeout(None)
    except OSError:  # a timeout too: a worker that gets no GO leaves the streams alone
        return None
    for fd in (0, 1):  # the worker's now: git sees them close when it ends, even killed
        os.close(fd)
    _forward_signals(worker)
    try:
        status = _read_int(sock)
    except OSError:
        status = None
    return 128 + 9 if status is None else status  # no status: the worker was killed


def _read_int(sock: _socket.socket) -> int | None:
    data = b""
    while len(data) < 4:
        more = sock.recv(4 - len(data))
        if not more:
            return None
        data += more
    return int.from_bytes(data, "little", signed=True)


def _forward_signals(worker: int) -> None:
    import signal

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(worker, signum)
        except OSError:
            pass
    for name in _FORWARDED:
        signal.signal(getattr(signal, name), forward)


def _spawn(path: str) -> None:
    """Start a server for later clients; this one goes on without it."""
    devnull = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    try:
        os.posix_spawn(sys.executable, [sys.executable, "-c", _BOOT, path], os.environ,
                       file_actions=devnull, setsid=True)
    except OSError:
        pass
