"""One lock over the build cache (.cache/e2e) for every process of a test run.

`make e2e` runs the tests in several pytest-xdist workers, which share the cache: two of them
building the same guest would write the same temporary files and staging directories, and
one's clean-up of stale entries could delete the other's half-written output. Whoever builds
an artefact holds this lock from its existence check to its final rename; a reader of a
finished artefact needs no lock (artefacts appear by rename, complete). Reentrant within a
process: a guest build strips the agent under the same lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pathlib
import threading

_local = threading.RLock()
_depth = 0
_fd: int | None = None


@contextlib.contextmanager
def held(cache: pathlib.Path):
    """Holds the cache's lock (blocking until other processes release it)."""
    global _depth, _fd
    with _local:
        if _depth == 0:
            cache.mkdir(parents=True, exist_ok=True)
            fd = os.open(cache / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
            _fd = fd
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
            if _depth == 0 and _fd is not None:
                os.close(_fd)  # releases the flock
                _fd = None
