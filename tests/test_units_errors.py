"""Typed errors: transient remote failures are retried, and every error class has its exit status."""
from __future__ import annotations

import errno
from pathlib import Path

import pytest
from fsspec.implementations.local import LocalFileSystem

from gitmodel.cli import errors as cli_errors
from gitmodel.errors import CacheError, UserError
from gitmodel.transfer import remotes
from gitmodel.transfer.remotes import Backend, Remote, RemoteError


class Flaky(LocalFileSystem):
    """A real local filesystem whose reads fail with a dropped connection the first N times
    (what a restarting server or a load balancer does), like restic's fault-injecting backends."""

    def __init__(self, failures: int, error: OSError) -> None:
        super().__init__()
        self.failures, self.error, self.calls = failures, error, 0

    def cat_file(self, path, start=None, end=None, **kwargs):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return super().cat_file(path, start=start, end=end, **kwargs)


def backend(tmp_path: Path, fs: LocalFileSystem) -> Backend:
    (tmp_path / "chunks").mkdir(exist_ok=True)
    (tmp_path / "chunks/k").write_bytes(b"payload")
    return Backend(Remote("shared", str(tmp_path)), fs, str(tmp_path), False)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remotes, "BACKOFF", 0.0)


def test_a_dropped_connection_is_retried_until_the_read_succeeds(tmp_path: Path) -> None:
    fs = Flaky(remotes.RETRIES - 1, ConnectionResetError(errno.ECONNRESET, "reset by peer"))
    assert backend(tmp_path, fs).read("chunks/k", 100) == b"payload"
    assert fs.calls == remotes.RETRIES


def test_a_remote_that_keeps_failing_says_try_again_later_and_exits_4(tmp_path: Path) -> None:
    fs = Flaky(99, TimeoutError("timed out"))
    with pytest.raises(RemoteError) as caught:
        backend(tmp_path, fs).read("chunks/k", 100)
    assert fs.calls == remotes.RETRIES and caught.value.transient
    line, status = cli_errors.describe(caught.value)
    assert status == cli_errors.RETRY == 4
    assert "model remote 'shared'" in line and "try again later" in line and "\n" not in line


def test_a_refusal_is_not_retried(tmp_path: Path) -> None:
    fs = Flaky(99, PermissionError(errno.EACCES, "denied"))
    with pytest.raises(RemoteError) as caught:
        backend(tmp_path, fs).read("chunks/k", 100)
    assert fs.calls == 1 and not caught.value.transient
    assert cli_errors.describe(caught.value)[1] == cli_errors.ERROR


def test_an_oversized_object_is_refused_at_once(tmp_path: Path) -> None:
    fs = Flaky(0, OSError())
    with pytest.raises(RemoteError, match="oversized"):
        backend(tmp_path, fs).read("chunks/k", 3)
    assert fs.calls == 1


@pytest.mark.parametrize("exc, status", [
    (UserError("no such remote"), 1),
    (CacheError("chunk ab… is damaged"), 3),
    (OSError(errno.ENOSPC, "No space left on device", "/x"), 1),
])
def test_exit_status_per_error_class(exc: Exception, status: int) -> None:
    line, code = cli_errors.describe(exc)  # type: ignore[arg-type]
    assert code == status and "\n" not in line
    assert ("fsck --repair" in line) == isinstance(exc, CacheError)

