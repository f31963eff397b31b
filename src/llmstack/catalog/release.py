"""Released files of the engines, downloaded once into ~/.cache/llmstack-catalog (maintainer side).

The catalogue is generated from what a release really ships. pip's own `pip download` cannot
fetch these files: it prepares each sdist's metadata, and vLLM's needs a CUDA torch to do so
(TensorRT-LLM's stub sdist fails on purpose). So this module asks the package index pip is set
up with (PIP_INDEX_URL, then `pip config`, then pip's default index) for the release's file list
(the Simple API, PEP 691 JSON), downloads the one file by name, checks it against the index's
sha256, and never installs or imports it. Nothing here runs on the CLI path.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


def cache_dir() -> Path:
    """Where released files are kept between runs (LLMSTACK_CATALOG_CACHE overrides it)."""
    override = os.environ.get("LLMSTACK_CATALOG_CACHE")
    if override:
        return Path(override)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llmstack-catalog"


@functools.cache
def index_url() -> str:
    """The package index pip uses here, without naming any host in this repository."""
    url = os.environ.get("PIP_INDEX_URL")
    if url:
        return url.rstrip("/")
    for key in ("global.index-url", "download.index-url", "install.index-url"):
        done = subprocess.run([sys.executable, "-m", "pip", "config", "get", key],
                              capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip().rstrip("/")
    from pip._internal.models.index import PyPI  # pip's default index

    return str(PyPI.simple_url).rstrip("/")


@dataclass(frozen=True)
class ReleaseFile:
    """One downloaded file of a release: its name on the index, its sha256, its size, where it lies."""

    project: str
    version: str
    filename: str
    sha256: str
    size: int
    path: Path


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def _listing(project: str) -> list[dict]:
    url = f"{index_url()}/{_normalize(project)}/"
    request = urllib.request.Request(url, headers={"Accept": SIMPLE_JSON})
    with urllib.request.urlopen(request, timeout=120) as response:
        data = json.load(response)
    return list(data.get("files", []))


def sdist_name(project: str, version: str) -> str:
    """The sdist's file name (PEP 625: the normalized name with underscores)."""
    return f"{_normalize(project).replace('-', '_')}-{version}.tar.gz"


def download(project: str, version: str, filename: str | None = None) -> ReleaseFile:
    """The release file (default: the sdist), from the cache or downloaded and checked."""
    wanted = filename or sdist_name(project, version)
    target = cache_dir() / "pypi" / wanted
    meta = target.with_name(target.name + ".sha256")
    if target.exists() and meta.exists():
        return ReleaseFile(project, version, wanted, meta.read_text().strip(), target.stat().st_size, target)
    files = _listing(project)
    entry = next((f for f in files if f.get("filename", "").lower() == wanted.lower()), None)
    if entry is None:
        raise LookupError(f"{project} {version}: the package index has no file {wanted}")
    expected = entry.get("hashes", {}).get("sha256")
    if not expected:
        raise LookupError(f"{project} {version}: the package index gives no sha256 for {wanted}")
    url = urllib.parse.urljoin(f"{index_url()}/{_normalize(project)}/", entry["url"])
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=600) as response, partial.open("wb") as out:
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != expected:
        partial.unlink()
        raise LookupError(f"{wanted}: sha256 {digest.hexdigest()} does not match the index's {expected}")
    partial.rename(target)
    meta.write_text(expected + "\n")
    return ReleaseFile(project, version, wanted, expected, target.stat().st_size, target)


def download_all(wanted: list[tuple[str, str, str | None]], workers: int = 4) -> list[ReleaseFile]:
    """Several release files at once (threads: the time goes to the network, not the CPU)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda w: download(*w), wanted))


class Archive:
    """Read-only access to the text files of an sdist (tar.gz) or wheel (zip), by path inside it.

    Paths are given without the sdist's top directory (`vllm/entrypoints/...`).
    """

    def __init__(self, path: Path):
        self.path = path
        self._files: dict[str, str] = {}
        self._load()

    def _load(self) -> None:
        if self.path.suffix == ".whl" or self.path.suffix == ".zip":
            with zipfile.ZipFile(self.path) as zf:
                for info in zf.infolist():
                    if not info.is_dir() and _wanted(info.filename):
                        self._files[info.filename] = zf.read(info).decode("utf-8", "replace")
            return
        with tarfile.open(self.path, "r:*") as tf:
            for member in tf:
                if not member.isfile():
                    continue
                name = member.name.split("/", 1)[1] if "/" in member.name else member.name
                if not _wanted(name):
                    continue
                handle = tf.extractfile(member)
                if handle is not None:
                    self._files[name] = handle.read().decode("utf-8", "replace")

    def names(self) -> list[str]:
        return sorted(self._files)

    def has(self, name: str) -> bool:
        return name in self._files

    def read(self, name: str) -> str:
        try:
            return self._files[name]
        except KeyError:
            raise LookupError(f"{self.path.name} has no file {name}") from None

    def glob(self, prefix: str, suffix: str = "") -> list[str]:
        return [n for n in self.names() if n.startswith(prefix) and n.endswith(suffix)]


_TEXT = (".py", ".txt", ".md", ".cpp", ".h", ".hpp", ".c", ".cmake", ".toml", ".cfg", ".yaml", ".yml",
         ".json", ".jinja", ".sh", ".in")


def _wanted(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.endswith(_TEXT) or base.startswith("Dockerfile") or base in {"CMakeLists.txt", "PKG-INFO"}
