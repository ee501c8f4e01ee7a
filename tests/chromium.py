"""Headless Chromium screenshots of a report page (Debian's chromium; CI installs it from
.ci/apt-packages.txt). The flags are the ones that work on a machine without network access."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest


def chromium() -> str:
    """The chromium binary; a failure in CI (it must be installed there), else a skip."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/apt-packages.txt must install it")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def screenshot(page: Path, out: Path, *, width: int = 1280, height: int = 2400) -> subprocess.CompletedProcess:
    """Render ``page`` (a local HTML file) headless into the PNG ``out``."""
    profile = tempfile.mkdtemp(prefix="clinpred-chromium-")
    try:
        return subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--screenshot={out}", f"--window-size={width},{height}", page.as_uri()],
            capture_output=True, text=True, timeout=120,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
