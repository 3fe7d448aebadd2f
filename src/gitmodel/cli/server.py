"""The warm server of cli/warm.py: it imports the filter once, then forks a worker per client."""
from __future__ import annotations

import contextlib
import os
import socket
import sys
import time

from gitmodel.cli.warm import GO, HANDOFF_SECONDS, IDLE_SECONDS, MAGIC, READY, interpreter, package

LOOK_SECONDS = 20  # how often an idle server checks that its socket is still there
MAX_FIELDS = 8 << 20  # an environment and arguments beyond Linux's 2 MiB (ARG_MAX) are not a client's


def main(path: str) -> None:
    """Listen at PATH (bound before the imports, so clients arriving meanwhile wait
    instead of starting servers of their own) until IDLE_SECONDS pass without a client, or
    PATH no longer names its socket (its folder was removed, or a newer server took it)."""
    import select
    import signal

    os.chdir("/")
    _close_inherited()
    listening = _listen(path)
    if listening is None:
        return
    listener, bound = listening
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped by the kernel
        _preload()
        stamp, ours = _stamp(), interpreter()
        last = time.monotonic()
        while time.monotonic() - last < IDLE_SECONDS and _still_at(path, bound):
            if not select.select([listener], [], [], LOOK_SECONDS)[0]:
                continue
            conn, _ = listener.accept()
            last = time.monotonic()
            with conn:
                if not _serve(conn, listener, ours, stamp):
                    return
    finally:
        _unlink_if_ours(path, bound)
        listener.close()


def _close_inherited() -> None:
    for name in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        if int(name) > 2:
            try:
                os.close(int(name))
            except OSError:
                pass


def _listen(path: str) -> tuple[socket.socket, int] | None:
    """A socket listening at PATH (bound aside, then renamed: a client never finds a
    name nobody listens at yet), and the inode of that name."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        listener.bind(tmp)
        listener.listen(64)
        bound = os.stat(tmp).st_ino
        os.replace(tmp, path)
    except OSError:
        listener.close()
        return None
    return listener, bound


def _still_at(path: str, bound: int) -> bool:
    """Whether PATH still names this server's socket (not removed with its folder, nor
    taken by a newer server)."""
    try:
        return os.stat(path).st_ino == bound
    except OSError:
        return False


def _unlink_if_ours(path: str, bound: int) -> None:
    """Remove PATH unless a newer server has bound it since."""
    try:
        if os.stat(path).st_ino == bound:
            os.unlink(path)
    except OSError:
        pass


def _preload() -> None:
    """Everything a filter imports, and the lazy imports of an add and a checkout."""
    import concurrent.futures  # noqa: F401
    import hashlib  # noqa: F401
    import json  # noqa: F401
    import tempfile  # noqa: F401

    import pyfastcdc  # noqa: F401

    import gitmodel.cli.errors
    import gitmodel.cli.filtering
    import gitmodel.cli.quick
    import gitmodel.commands.checkout
    import gitmodel.commands.hooks
    import gitmodel.commands.status
    import gitmodel.filter.process
    import gitmodel.git.caller  # noqa: F401
    from gitmodel.store import alloc
    alloc.tune()


def _stamp() -> dict[str, tuple[int, int]]:
    """Size and mtime of each loaded source file of ours."""
    folder, out = package(), {}
    for module in list(sys.modules.values()):
        source = getattr(module, "__file__", None)
        if source and source.startswith(folder):
            try:
                st = os.stat(source)
            except OSError:
                continue
            out[source] = (st.st_size, st.st_mtime_ns)
    return out


def _serve(conn: socket.socket, listener: socket.socket, ours: bytes,
           stamp: dict[str, tuple[int, int]]) -> bool:
    """Fork a worker for one client; False when this server must end (its code changed)."""
    import struct
    fds: list[int] = []
    try:
        conn.settimeout(2.0)  # a client that connects and sends nothing holds up no other
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        if struct.unpack("3i", creds)[1] != os.getuid():
            return True
        fields = _receive(conn)
        current = fields[:2] == [MAGIC, ours]
        if not current or _stamp() != stamp:
            conn.sendall(b"n")
            return not current
        conn.sendall(READY)
        _, fds, _, _ = socket.recv_fds(conn, 1, 3)
        if len(fds) != 3:
            return True
        if os.fork() == 0:
            listener.close()
            _work(conn, fds, fields)
        return True
    except (OSError, ValueError):
        return True
    finally:
        for fd in fds:
            os.close(fd)


def _receive(conn: socket.socket) -> list[bytes]:
    """The client's fields: a length (4 bytes), then that many bytes."""
    data = b""
    while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "little"):
        if len(data) >= 4 and int.from_bytes(data[:4], "little") > MAX_FIELDS:
            raise ValueError("too long")
        more = conn.recv(1 << 16)
        if not more:
            raise ValueError("cut short")
        data += more
    return data[4:].split(b"\0")


def _work(conn: socket.socket, fds: list[int], fields: list[bytes]) -> None:
    """In the forked worker: become the client, run the filter, report its status."""
    import signal
    import threading
    try:
        conn.settimeout(HANDOFF_SECONDS)
        conn.sendall(os.getpid().to_bytes(4, "little"))
        go = conn.recv(1) == GO
        conn.settimeout(None)
    except OSError:
        go = False
    if not go:
        os._exit(0)  # the client gave up waiting and runs the command itself
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        fds.clear()
        cwd, client, argc = fields[2], int(fields[3]), int(fields[4])
        argv = [os.fsdecode(a) for a in fields[5:5 + argc]]
        os.environ.clear()
        for entry in fields[5 + argc:]:
            key, _, value = entry.partition(b"=")
            os.environb[key] = value
        os.chdir(cwd)
        from gitmodel.git import caller
        caller.ORIGIN = client
        sys.argv = ["git-model", *argv]
        threading.Thread(target=_die_with, args=(conn,), daemon=True).start()
        code = _run(argv)
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            _note_peak_memory()
            conn.sendall(code.to_bytes(4, "little", signed=True))
        finally:
            os._exit(code)


def _note_peak_memory() -> None:
    """Append this worker's peak RSS (KiB) to the file GIT_MODEL_WORKER_RSS names, if any:
    a worker is not a child of the command that started its client, so a measure of that
    command's process tree (bench/launch.py) would not see what the work itself took."""
    target = os.environ.get("GIT_MODEL_WORKER_RSS")
    if target:
        import resource
        with contextlib.suppress(OSError), open(target, "a") as out:
            out.write(f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\n")


def _run(argv: list[str]) -> int:
    """What entry.py runs for ARGV, with its exit status returned (`quick` answers a plain
    status; any other form goes to click, as it would in the client)."""
    from gitmodel.cli.errors import guarded
    if argv == ["filter-process"]:
        from gitmodel.cli.filtering import filter_process
        return guarded(filter_process)
    if argv[:1] != ["status"]:
        raise ValueError(f"the server runs filter-process and status, not {argv}")
    from gitmodel.cli.quick import quick
    status = quick(argv)
    if status is not None:
        return status
    from gitmodel.cli.main import run
    try:
        run()
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else int(done.code is not None)
    return 0


def _die_with(conn: socket.socket) -> None:
    """The client closed the connection before the status: it was killed, and so is this."""
    import signal
    try:
        conn.recv(1)
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGKILL)
