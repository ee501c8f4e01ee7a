"""Leaving nothing half-made when writing a report fails (e.g. the disk is full)."""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def new_folder_removed_on_failure(folder: Path) -> Iterator[None]:
    """If ``folder`` does not exist yet and the block fails, remove what the block put in it.

    A folder that existed before keeps its (atomically replaced) files: the previous report's
    figures are still whole, so the previous report.md stays readable.
    """
    existed = folder.exists()
    try:
        yield
    except BaseException:
        if not existed:
            shutil.rmtree(folder, ignore_errors=True)
        raise
