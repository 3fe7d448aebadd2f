"""Fast tier: a write killed halfway leaves no file under the final name.

The writer is a child process that stops in the middle of `atomic_output`,
with half its bytes on disk, and waits for a byte on stdin; it is killed once
the half-written temporary file is seen, so the kill lands mid-write on any
machine, fast or slow.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HALF = 100_000
WRITER = f"""
import sys
from pathlib import Path

import pytest
from gitmodel.store.atomic import atomic_output
with atomic_output(Path(sys.argv[1]), Path(sys.argv[2])) as out:
    out.write(b"x" * {HALF})
    out.flush()
    sys.stdin.buffer.read(1)
    out.write(b"y" * {HALF})
"""


def start_writer(tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    final, tmp_dir = tmp_path / "objects" / "ab" / "object", tmp_path / "tmp"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(final), str(tmp_dir)],
                            stdin=subprocess.PIPE)
    end = time.monotonic() + 60
    while not [p for p in tmp_dir.glob("*.part") if p.stat().st_size == HALF]:
        assert proc.poll() is None, "the writer ended before writing half"
        assert time.monotonic() < end, "no half-written temporary file within 60 s"
        time.sleep(0.01)
    return proc, final, tmp_dir


def test_killed_mid_write_leaves_nothing_under_the_final_name(tmp_path):
    proc, final, tmp_dir = start_writer(tmp_path)
    proc.kill()
    assert proc.wait() == -signal.SIGKILL
    assert not final.exists() and not final.parent.exists()
    assert [p.stat().st_size for p in tmp_dir.iterdir()] == [HALF]  # only in tmp/, for gc


def test_finished_write_is_renamed_whole(tmp_path):
    proc, final, tmp_dir = start_writer(tmp_path)
    assert not final.exists()
    proc.communicate(b"go")
    assert proc.returncode == 0
    assert final.read_bytes() == b"x" * HALF + b"y" * HALF
    assert list(tmp_dir.iterdir()) == []


def test_replacing_a_file_swaps_it_whole_and_leaves_no_second_name(tmp_path):
    """Over an existing file (a pointer replaced by its model) the names are exchanged and
    the old file removed; onto a new name, or over a directory, it is a plain rename."""
    from gitmodel.store.atomic import atomic_output, replace
    target = tmp_path / "model.bin"
    target.write_bytes(b"pointer")
    target.chmod(0o640)
    link = tmp_path / "other-name"
    link.hardlink_to(target)
    with atomic_output(target, tmp_dir=tmp_path / "tmp", mode=0o640) as out:
        out.write(b"model" * 1000)
    assert target.read_bytes() == b"model" * 1000 and target.stat().st_nlink == 1
    assert link.read_bytes() == b"pointer"  # the old inode itself was not written
    assert list((tmp_path / "tmp").iterdir()) == []
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "src").write_bytes(b"x")
    with pytest.raises(OSError):
        replace(tmp_path / "src", tmp_path / "a-dir")
    assert (tmp_path / "a-dir").is_dir() and (tmp_path / "src").read_bytes() == b"x"


def test_atomic_output_gives_the_exact_mode_and_makes_the_folders_it_needs(tmp_path: Path) -> None:
    """The temporary file is created with its final mode (restored past a umask that would
    take bits away) in a tmp folder made on first use, and the target's folder likewise."""
    import stat
    code = ("import os, sys\nos.umask(0o077)\nfrom pathlib import Path\n"
            "from gitmodel.store.atomic import atomic_output\ntop = Path(sys.argv[1])\n"
            "with atomic_output(top / 'work' / 'sub' / 'run.sh', tmp_dir=top / 'tmp', mode=0o755) as out:\n"
            "    out.write(b'#!/bin/sh\\n')\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    target = tmp_path / "work" / "sub" / "run.sh"
    assert target.read_bytes() == b"#!/bin/sh\n" and stat.S_IMODE(target.stat().st_mode) == 0o755
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_replaced_file_can_be_left_to_the_caller_to_delete(tmp_path: Path) -> None:
    """With `dispose`, the old file is handed over under the temporary name, whole, instead
    of deleted (a pull deletes the pointers it replaced after writing every file)."""
    from gitmodel.store.atomic import atomic_output
    target = tmp_path / "model.bin"
    target.write_bytes(b"pointer")
    old: list[str] = []
    with atomic_output(target, tmp_dir=tmp_path / "tmp", dispose=old.append) as out:
        out.write(b"model")
    assert target.read_bytes() == b"model"
    assert [Path(p).parent for p in old] == [tmp_path / "tmp"]
    assert Path(old[0]).read_bytes() == b"pointer"
    with atomic_output(tmp_path / "new.bin", tmp_dir=tmp_path / "tmp", dispose=old.append) as out:
        out.write(b"x")  # nothing replaced: nothing handed over
    assert len(old) == 1 and (tmp_path / "new.bin").read_bytes() == b"x"
