"""Hand memory that PyTorch has freed back to the operating system during long CPU fits (glibc only)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys


@functools.cache
def _malloc_trim():
    """glibc's malloc_trim, or None where the C library has none (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> bool:
    """Return the heap's free pages to the OS; True where that is possible here.

    Once PyTorch frees a large CPU buffer, glibc raises its mmap threshold (up to 32 MiB) and serves later activations
    from its heaps, whose freed pages it keeps: the resident memory of a fit grows with its steps. malloc_trim(0)
    every few seconds holds it flat; a fixed mmap threshold (MALLOC_MMAP_THRESHOLD_) does too, but makes every step
    slower, since each buffer is page-faulted afresh (docs/experiments.md, "Memory of long fits").
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
