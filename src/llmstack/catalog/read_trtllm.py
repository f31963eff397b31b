"""TensorRT-LLM: entries from committed extracts (extracts/trtllm-<version>.json).

PyPI's `tensorrt-llm` releases are stubs that point at NVIDIA's own index (not reachable here or
in CI), so the generator cannot read a released file. An extract is llmstack's own list of names
(never upstream code) with its source; this reader turns it into an entry, and the regeneration
test checks that step. Every list from an extract is marked incomplete (`complete: false`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmstack.catalog.schemes import images_from_scheme

EXTRACTS = Path(__file__).parent / "extracts"


def read(version: str) -> tuple[dict[str, Any], dict[str, Any]]:
    name = f"trtllm-{version}.json"
    data = json.loads((EXTRACTS / name).read_text(encoding="utf-8"))
    where = f"src/llmstack/catalog/extracts/{name}"

    def parsers(names: list[str] | None) -> dict[str, Any] | None:
        if names is None:
            return None
        return {"names": sorted(names), "source": where, "auto": False, "deprecated": {}, "complete": False}

    body = {
        "images": images_from_scheme("trtllm", version),
        "flags": {"names": sorted(data["flags"]), "source": where, "complete": False},
        "tool_parsers": parsers(data["tool_parsers"]),
        "reasoning_parsers": parsers(data["reasoning_parsers"]),
        "endpoints": {path: {"source": where} for path in sorted(data["endpoints"])},
        "recipes": [],
        "notes": [data["_about"]],
    }
    source = {"kind": "extract", "project": "tensorrt-llm", "version": version, "file": where,
              "note": data["source"]}
    return body, source
