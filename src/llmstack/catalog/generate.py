"""Maintainer command: write the catalogue entries from the released packages.

    python -m llmstack.catalog.generate                 # every entry listed in RELEASES
    python -m llmstack.catalog.generate vllm v0.33.0    # one entry
    python -m llmstack.catalog.generate --check         # regenerate in memory, report differences

Each entry is read from the file the engine released on the package index (downloaded once into
~/.cache/llmstack-catalog, checked against the index's sha256, never installed or imported), or,
for TensorRT-LLM, whose package on the index is a stub, from a committed extract (see
`read_trtllm`). To catalogue a new release: add it to RELEASES, run this, review the new JSON
like a golden, commit both.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmstack.catalog import SCHEMA

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Release:
    """Where one catalogued version is read from."""

    project: str  # the package on the index (or the extract's name for kind="extract")
    version: str  # the package's version
    file: str | None = None  # a wheel's file name when the release has no sdist
    kind: str = "pypi"
    note: str = ""


# The catalogued versions. Adding one here and running the command is the whole procedure.
RELEASES: dict[str, dict[str, Release]] = {
    "vllm": {
        "v0.12.0": Release("vllm", "0.12.0"),
        "v0.17.0": Release("vllm", "0.17.0"),
        "v0.18.0": Release("vllm", "0.18.0"),
        "v0.23.0": Release("vllm", "0.23.0"),
        "v0.24.0": Release("vllm", "0.24.0"),
        "v0.32.0": Release("vllm", "0.32.0"),
        "v0.33.0": Release("vllm", "0.33.0"),
    },
    "sglang": {
        "v0.5.6": Release("sglang", "0.5.6"),
        "v0.5.9": Release("sglang", "0.5.9"),
        "v0.5.12": Release("sglang", "0.5.12", "sglang-0.5.12-cp312-cp312-manylinux_2_34_x86_64.whl"),
        "v0.5.14": Release("sglang", "0.5.14", "sglang-0.5.14-cp312-cp312-manylinux_2_34_x86_64.whl"),
        "v0.5.16": Release("sglang", "0.5.16", "sglang-0.5.16-cp312-cp312-manylinux_2_34_x86_64.whl"),
        "v0.5.23": Release("sglang", "0.5.23", "sglang-0.5.23-cp312-cp312-manylinux_2_34_x86_64.whl"),
    },
    "llama": {
        # llama-cpp-python vendors llama.cpp's full source; its CHANGELOG names the commit.
        "b11312": Release("llama-cpp-python", "0.3.36",
                          note="vendors ggml-org/llama.cpp@0c1e57098 (CHANGELOG.md), the commit of build b11312"),
    },
    "trtllm": {
        "1.0.0": Release("trtllm-1.0.0", "1.0.0", kind="extract"),
        "1.2.1": Release("trtllm-1.2.1", "1.2.1", kind="extract"),
    },
    "litellm": {
        # The newest 1.108.x (LTS line) whose `litellm[proxy]` resolves from the package index here:
        # 1.108.8-1.108.14 pin litellm-enterprise==0.1.79.post2 / litellm-proxy-extras==0.4.110.post1,
        # which the index does not hold (`pip install --dry-run "litellm[proxy]==1.108.N"`, 2026-11-29).
        "v1.108.7": Release("litellm", "1.108.7"),
    },
}


def _reader(backend: str) -> Callable[..., dict[str, Any]]:
    if backend == "vllm":
        from llmstack.catalog import read_vllm
        return read_vllm.read
    if backend == "sglang":
        from llmstack.catalog import read_sglang
        return read_sglang.read
    if backend == "llama":
        from llmstack.catalog import read_llama
        return read_llama.read
    if backend == "litellm":
        from llmstack.catalog import read_litellm
        return read_litellm.read
    raise KeyError(backend)


def build(backend: str, version: str) -> dict[str, Any]:
    """The entry of one catalogued version, as a dict (deterministic)."""
    release = RELEASES[backend][version]
    if release.kind == "extract":
        from llmstack.catalog import read_trtllm
        body, source = read_trtllm.read(version)
    else:
        from llmstack.catalog.release import Archive, download
        got = download(release.project, release.version, release.file)
        source = {"kind": "pypi", "project": release.project, "version": release.version,
                  "file": got.filename, "sha256": got.sha256, "bytes": got.size}
        if release.note:
            source["note"] = release.note
        body = _reader(backend)(Archive(got.path), version)
    entry: dict[str, Any] = {
        "schema": SCHEMA,
        "backend": backend,
        "version": version,
        "generated_by": f"python -m llmstack.catalog.generate {backend} {version}",
        "source": source,
    }
    entry.update(body)
    return entry


def prefetch(pairs: list[tuple[str, str]]) -> None:
    """Download the release files of these entries in parallel (cached ones are skipped)."""
    from llmstack.catalog.release import download_all
    wanted = [(r.project, r.version, r.file) for b, v in pairs
              if (r := RELEASES[b][v]).kind == "pypi"]
    download_all(wanted)


def render(entry: dict[str, Any]) -> str:
    return json.dumps(entry, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def path_of(backend: str, version: str) -> Path:
    return DATA / backend / f"{version}.json"


def targets(backend: str | None, version: str | None) -> list[tuple[str, str]]:
    if backend is None:
        return [(b, v) for b, vs in RELEASES.items() for v in vs]
    if backend not in RELEASES:
        raise SystemExit(f"unknown backend {backend!r}: one of {', '.join(RELEASES)}")
    if version is None:
        return [(backend, v) for v in RELEASES[backend]]
    if version not in RELEASES[backend]:
        raise SystemExit(f"{backend} {version} is not in RELEASES (src/llmstack/catalog/generate.py): add it first")
    return [(backend, version)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmstack.catalog.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("backend", nargs="?")
    parser.add_argument("version", nargs="?")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if an entry differs")
    args = parser.parse_args(argv)
    differ = []
    chosen = targets(args.backend, args.version)
    prefetch(chosen)
    for backend, version in chosen:
        text = render(build(backend, version))
        path = path_of(backend, version)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                differ.append(str(path))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    if differ:
        print("differs from its release: " + ", ".join(differ), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
