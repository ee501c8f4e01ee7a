"""A pool worker ends when its driver is gone, before it writes anything more.

A driver killed with ``kill -9`` (or out of memory) runs no clean-up: its pool workers would train
on as orphans, write checkpoints into a run directory a resumed run may already be using, and keep
the driver's stdout open (``clinpred run ... | tee log`` would never return). On Linux the kernel
kills the worker with its parent (``PR_SET_PDEATHSIG``); everywhere, a watcher thread notices that
the parent changed (the worker was re-parented) and exits at once.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
#: seconds between two looks at the parent (the Linux kernel needs none)
POLL_SECONDS = 0.25


def _pdeathsig() -> bool:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while True:
        time.sleep(POLL_SECONDS)
        if os.getppid() != parent:
            os._exit(1)  # no clean-up: nothing of this process may touch the run any more


def die_with_parent(parent: int) -> None:
    """End this process when ``parent`` (its driver's pid) is gone."""
    _pdeathsig()
    if os.getppid() != parent:  # the driver died before the kernel was told
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="clinpred-parent-watch", daemon=True).start()


__all__ = ["die_with_parent"]
