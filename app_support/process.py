"""Settings of the app's server process: torch threads and the C allocator.

Both are set once, before torch is imported when possible (``serve.py`` calls :func:`configure`
first; the router calls it too, for ``streamlit run app.py``):

* **torch threads**: half the cores (at least one; ``ADL_TORCH_THREADS`` overrides), one
  inter-op thread, and OpenMP threads that sleep rather than spin when they wait. With as many
  threads as cores, a machine busy with other work turns each parallel region into a wait for
  the slowest, descheduled thread: one temporal-granularity inference on 2 busy cores took
  0.6-5.7 s with 2 threads against 0.2-0.3 s with 1.
* **glibc malloc**: at most two arenas (each script run is a new thread, and each thread would
  otherwise get its own arena that keeps its freed memory), a fixed mmap threshold (so large
  arrays are returned to the system when freed, instead of the threshold growing and the heap
  keeping them), and :func:`release` after each script run hands freed heap pages back.
  Elsewhere than glibc these are skipped. pyarrow is pointed at the same allocator (its own
  mimalloc pool keeps freed memory).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import time
from collections.abc import Iterator

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 256 * 1024  # arrays above this come from mmap and go back to the system when freed
TRIM_THRESHOLD = 4 * 2**20

_libc = None
_configured = False


def _glibc():
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt  # noqa: B018 (glibc only)
            libc.malloc_trim  # noqa: B018
            _libc = libc
    return _libc


def torch_threads() -> int:
    """Intra-op threads for torch in the app: ``ADL_TORCH_THREADS`` or half the cores, at least 1."""
    wanted = os.environ.get("ADL_TORCH_THREADS", "")
    if wanted.isdigit() and int(wanted) > 0:
        return int(wanted)
    return max(1, (os.cpu_count() or 2) // 2)


def configure() -> None:
    """Set the allocator and torch's threads for this process (idempotent)."""
    global _configured
    if _configured:
        return
    _configured = True
    libc = _glibc()
    if libc is not None:
        libc.mallopt(M_ARENA_MAX, 2)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    # pyarrow (parquet tables) uses mimalloc by default, which keeps what it frees; the system
    # allocator above gives it back. Read when pyarrow is first imported.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    threads = torch_threads()
    # read by OpenMP when torch loads it: only effective before the first `import torch`
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import torch

    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # only settable before the first parallel work
        torch.set_num_interop_threads(1)


def release() -> None:
    """Give freed heap memory back to the system (glibc ``malloc_trim``); cheap when none is free."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def rss_mib(pid: int | None = None) -> float:
    """Resident memory of a process (this one by default) in MiB, from ``/proc`` (0 elsewhere)."""
    try:
        with open(f"/proc/{pid or 'self'}/status", encoding="utf-8") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024
    except (OSError, StopIteration):
        return 0.0


RUN_LOG = "ADL_RUN_LOG"  # a file path: each script run appends "<page title>\t<seconds>" there


@contextlib.contextmanager
def timed_run(title: str) -> Iterator[None]:
    """Around a page's run: afterwards :func:`release`, and when ``$ADL_RUN_LOG`` names a file,
    append the page's title and the run's seconds to it (``bench app`` splits page times into
    the server's part and the browser's)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        release()
        log = os.environ.get(RUN_LOG)
        if log:
            with contextlib.suppress(OSError), open(log, "a", encoding="utf-8") as f:
                f.write(f"{title}\t{time.perf_counter() - start:.4f}\n")
