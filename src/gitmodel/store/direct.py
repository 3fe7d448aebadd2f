"""Writing a large file's chunks past the page cache (O_DIRECT), where the system allows it.

A fetch that writes the file it brings (transfer/engine.py, `git model pull`) puts every
chunk at its offset from the thread that decoded it. Through the page cache, that copy
is the largest single cost of a pull: for the benchmark's 1 GiB model, 1.1 s of the 3.2 s
of CPU the pull took on this 2-core VM (perf: `copy_folio_from_iter_atomic`), and from
0.2 s to 1.9 s of system time for the same 1 GiB written alone, depending on whether the
kernel hands out page-cache pages the hypervisor has to back afresh (the VM returns free
memory to its host). The copy competes with decoding and hashing for the two cores. A
direct write moves the bytes from a buffer this process reuses to the device: 0.1-0.2 s
of system time for the same GiB, and the waiting for the device overlaps with the
decoding of the next chunks (measured here, 3 writer threads: 0.78-0.95 s wall and
0.3 s of CPU against 0.84-1.23 s wall and 0.8-2.1 s of CPU buffered).

Direct I/O needs the file offset, the length and the buffer address aligned (to the
device's logical block, 512 bytes here; we use the page size, 4 KiB): a chunk's
aligned middle is copied into a page-aligned buffer and written directly, its unaligned
head and tail go through the page cache. Two chunks only ever meet in a page both
write through the page cache, so a direct write never covers a page the page cache
holds for this file (Linux keeps the two coherent anyway; this keeps it cheap).

Only large files go this way (`DIRECT_FROM`): the file is then not in the page cache
after the pull, and its first read comes from the disk. Only file systems on a block
device do (a device number with a major: ext4, xfs...): on NFS a direct write is a
synchronous round trip to the server, and tmpfs, FUSE, overlay and btrfs (anonymous
device numbers) keep the page cache. Where O_DIRECT is refused, at open or as misaligned
at a write, every write goes through the page cache as before. What the file holds
is the same either way, and it is still renamed into place only after its sha256
matched (engine.py).
"""
from __future__ import annotations

import errno
import mmap
import os
import stat
import threading

ALIGN = 4096  # a multiple of any logical block size Linux devices use
DIRECT_FROM = 64 << 20  # smaller files stay in the page cache: their next read is cheap
_O_DIRECT = getattr(os, "O_DIRECT", 0)


class DirectWrites:
    """Positioned writes into one file of known size, their aligned middles direct.

    Safe to call from several threads at once (positioned writes, one buffer per
    writer taken from a shared free list)."""

    def __init__(self, fd: int, direct_fd: int) -> None:
        self.fd, self.direct_fd = fd, direct_fd
        self.refused = False  # a direct write was refused: the rest go through the cache
        self._free: list[mmap.mmap] = []
        self._lock = threading.Lock()

    @classmethod
    def open(cls, fd: int, size: int) -> DirectWrites | None:
        """For `fd`, an empty regular file opened for writing that will hold `size` bytes:
        a second descriptor on it with O_DIRECT, the file sized already (writes then land
        inside it, whatever their order); None where that cannot be done or `size` is
        below DIRECT_FROM."""
        if not _O_DIRECT or size < DIRECT_FROM or not os.path.isdir("/proc/self/fd"):
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or os.major(st.st_dev) == 0:
                return None  # not on a block device: network, FUSE, tmpfs, overlay (see above)
            direct = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | _O_DIRECT | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            if not _allocate(fd, size):
                os.ftruncate(fd, size)
        except OSError:
            os.close(direct)
            return None
        return cls(fd, direct)

    def pwrite(self, data: bytes | bytearray | memoryview, offset: int) -> None:
        """Write all of `data` at `offset`."""
        view = memoryview(data)
        start = -(-offset // ALIGN) * ALIGN
        end = (offset + len(view)) // ALIGN * ALIGN
        if self.refused or end <= start:
            _pwrite_all(self.fd, view, offset)
            return
        done = self._direct(view[start - offset:end - offset], start)
        _pwrite_all(self.fd, view[:start - offset], offset)
        _pwrite_all(self.fd, view[start - offset + done:], start + done)

    def _direct(self, middle: memoryview, offset: int) -> int:
        """Write `middle` (aligned offset and length) directly; return the bytes written
        (short of all only when the system refused: the caller writes the rest)."""
        buffer = self._take(len(middle))
        staged = memoryview(buffer)[:len(middle)]
        try:
            staged[:] = middle
            done = 0
            while done < len(middle):
                try:
                    written = os.pwrite(self.direct_fd, staged[done:], offset + done)
                except OSError as exc:
                    if exc.errno != errno.EINVAL:
                        raise
                    self.refused = True  # alignment this device does not take: cached from now
                    return done
                if written <= 0 or written % ALIGN:
                    return done + max(written, 0)  # the rest through the page cache
                done += written
            return done
        finally:
            staged.release()
            with self._lock:
                self._free.append(buffer)

    def _take(self, size: int) -> mmap.mmap:
        """A page-aligned buffer of at least `size` bytes (anonymous mmap), reused."""
        with self._lock:
            for index, buffer in enumerate(self._free):
                if len(buffer) >= size:
                    return self._free.pop(index)
            small = self._free.pop() if self._free else None
        if small is not None:  # too small for this chunk: replaced, so no more are kept
            small.close()      # than writers ever ran at once
        return mmap.mmap(-1, -(-size // ALIGN) * ALIGN)

    def close(self) -> None:
        os.close(self.direct_fd)
        with self._lock:
            for buffer in self._free:
                buffer.close()
            self._free.clear()


def _allocate(fd: int, size: int) -> bool:
    """fallocate(2) the file's blocks (as unwritten extents), without glibc's emulation by
    writing zeros where the file system has no such call (`os.posix_fallocate`): direct
    writes into allocated blocks run side by side, while ext4 serializes those that
    allocate (its inode lock; a 1 GiB pull took 1.41-1.76 s so, median 1.61, against
    1.52-1.96 s, median 1.78, alternated 4 times here). False where the call is not there
    or fails (the writes then allocate, as before)."""
    try:
        import ctypes
        fallocate = ctypes.CDLL(None, use_errno=True).fallocate
        fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
    except (OSError, AttributeError):
        return False
    return bool(fallocate(fd, 0, 0, size) == 0)


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        done = os.pwrite(fd, view, offset)
        view, offset = view[done:], offset + done
