"""Process memory: how much the machine can still give this process, and handing memory that PyTorch has freed back to
the operating system during long CPU fits (glibc only)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from pathlib import Path


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


def available_memory() -> int | None:
    """Bytes this process can still allocate without swapping, or None where the system does not say.

    /proc/meminfo's MemAvailable (Linux), lowered to what a cgroup v2 memory limit (a container's) leaves, since the
    kernel stops a process at that limit whatever the machine has free. None elsewhere (no check is better than a guess).
    """
    found = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found = int(line.split()[1]) * 1024  # kB
                break
    except (OSError, ValueError, IndexError):
        found = None
    limit = _cgroup_memory_left()
    if limit is not None:
        found = limit if found is None else min(found, limit)
    return found


def _cgroup_memory_left() -> int | None:
    """What this process's cgroup v2 memory limit leaves (memory.max less memory.current), None without a limit."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
        group = next(line for line in lines if line.startswith("0::"))[3:]  # the unified (v2) hierarchy's entry
        folder = Path("/sys/fs/cgroup") / group.lstrip("/")
        limit = (folder / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(int(limit) - int((folder / "memory.current").read_text().strip()), 0)
    except (OSError, ValueError, StopIteration):
        return None
