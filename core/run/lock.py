"""One writer per run directory: an exclusive lock file with its owner's pid, host and start time.

``RUN_DIR/.lock`` is created atomically (written in full under a temporary name, then hard-linked
into place, which fails if it exists), so a reader never sees a half-written lock. A lock whose
pid is dead on this host, or now belongs to another process (a reused pid: Linux records each
process's start time), is stale (a run killed with ``kill -9``) and is taken over; any other
lock is refused with one line naming its owner. Every writer of a run directory (``clinpred run``,
``clinpred report``) holds it while it writes.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from clinpred.core.errors import RunDirectoryError, RunError

LOCK_NAME = ".lock"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    except OSError:
        return False
    return True


def _process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, Linux ``/proc``), or None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the name in (...) may hold spaces
    except (OSError, ValueError, IndexError):
        return None


def read_lock(run_dir: str | Path) -> dict[str, Any] | None:
    """The owner recorded in ``RUN_DIR/.lock`` ({pid, host, started, command}), or None."""
    try:
        data = json.loads((Path(run_dir) / LOCK_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def lock_is_stale(owner: dict[str, Any]) -> bool:
    """True when the owner is a process of this host that no longer exists (or whose pid another
    process has since been given)."""
    pid = owner.get("pid")
    if owner.get("host") != socket.gethostname() or not isinstance(pid, int):
        return False
    if not _pid_alive(pid):
        return True
    recorded, now = owner.get("pid_start"), _process_start(pid)
    return isinstance(recorded, int) and now is not None and now != recorded


def _describe(owner: dict[str, Any]) -> str:
    if not owner:
        return "an unreadable lock"
    started = owner.get("started")
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if isinstance(started, (int, float)) else "?"
    return f"pid {owner.get('pid', '?')} on {owner.get('host', '?')} ({owner.get('command', '?')}, since {since})"


class RunLock:
    """Exclusive writer lock of one run directory (a context manager)."""

    def __init__(self, run_dir: str | Path, command: str) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self.command = command
        self.held = False

    def acquire(self) -> None:
        """Take the lock, or raise :class:`RunDirectoryError` (exit 2) naming the current owner."""
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "command": self.command,
              "pid_start": _process_start(os.getpid())}
        for _ in range(3):
            if self._try_create(me):
                self.held = True
                return
            owner = read_lock(self.path.parent)
            if owner is None:  # released between our attempt and the read
                continue
            if owner and lock_is_stale(owner):
                self._remove_if(owner)
                continue
            raise RunDirectoryError(
                f"{self.path.parent} is being written by {_describe(owner)}; wait for it to finish "
                f"(`clinpred status {self.path.parent}`), or delete {self.path} if that process is gone"
            )
        raise RunDirectoryError(f"{self.path}: could not take the run directory's lock; try again")

    def _try_create(self, me: dict[str, Any]) -> bool:
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".lock.", suffix=".tmp", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(me, handle)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                return False
            return True
        except OSError as exc:
            text = f"cannot write the lock file {self.path} ({exc.strerror or exc})"
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise RunDirectoryError(f"{text}; choose a run directory you can write") from None
            raise RunError(f"{text}; nothing was changed") from None
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)

    def _remove_if(self, owner: dict[str, Any]) -> None:
        """Remove the lock only if it still holds ``owner`` (two takers of one stale lock)."""
        if read_lock(self.path.parent) == owner:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        owner = read_lock(self.path.parent)
        if owner and owner.get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
