"""Reading a user's input file whole, refusing what is not a regular file.

A FIFO (a named pipe, ``<(...)`` process substitution) with no writer blocks a reader forever, and
a device such as ``/dev/zero`` never ends; clinpred reads data, config and output files whole, so
each of them must be a regular file: anything else is refused before it is opened.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def not_regular(path: str | Path) -> str | None:
    """Why ``path`` is not a regular file clinpred can read whole (a FIFO, a device, a socket), or
    None (a regular file, or no file at all: the caller's read reports that)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "is a pipe (FIFO), which clinpred would wait on forever; save the data to a file and give that"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a file; give a data file"
    return "is not a regular file (a socket?); give a data file"


def read_regular_bytes(path: str | Path) -> bytes:
    """The bytes of a regular file; a FIFO or device raises :class:`ValueError` with the reason
    (callers turn it into their one-line error), other failures the usual :class:`OSError`."""
    reason = not_regular(path)
    if reason is not None:
        raise ValueError(reason)
    return Path(path).read_bytes()


__all__ = ["not_regular", "read_regular_bytes"]
