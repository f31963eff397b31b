"""Image references for engines whose package carries no release tooling (extracts/schemes.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMES = Path(__file__).parent / "extracts" / "schemes.json"


def images_from_scheme(backend: str, version: str) -> list[dict[str, Any]]:
    data = json.loads(SCHEMES.read_text(encoding="utf-8"))[backend]
    bare = version.lstrip("v")
    out = []
    for image in data["images"]:
        item = dict(image)
        item["ref"] = image["ref"].format(version=bare)
        item["source"] = "src/llmstack/catalog/extracts/schemes.json: " + data["source"]
        out.append(item)
    return out
