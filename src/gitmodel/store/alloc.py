"""Keeping glibc from returning chunk buffers to the kernel after every use.

Chunks are a few MiB; glibc serves such blocks with mmap and unmaps them when
freed, so every chunk costs a thousand fresh page faults. Measured on a 1 GiB
`git add`: 484k minor faults and 2.6 s of system time, against 17k and 0.9 s
with the thresholds below (total CPU 7.6 s -> 5.3 s). Memory stays bounded:
the heap keeps the working set of a few chunks, not the file.
"""
from __future__ import annotations

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune() -> None:
    """Serve multi-MiB blocks from the heap and keep them (no-op off glibc)."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 64 << 20)
        libc.mallopt(_M_TRIM_THRESHOLD, 256 << 20)
    except (OSError, AttributeError):
        pass
