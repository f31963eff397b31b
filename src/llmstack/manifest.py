"""`llmstack-manifest.yaml`, written beside the rendered files and committed with them.

It records the inputs (the regenerate command, the config file and stack), for every model the
source layout and the facts that were read from it, and a summary of the stack (project,
services, gateway URL, aliases, published ports). So:

- `render --check` and the header's regenerate command work in a checkout without the weights
  (the recorded facts stand in for files that are not on this host: resolve.py, sources.py);
- the runtime commands (`up`, `status`, `doctor`, `smoke`, `claude`) read the stack from here
  instead of parsing the compose file back (stackdir.py).

The body is JSON, which is YAML too: the standard library writes it deterministically on every
machine, in a tenth of the time PyYAML's pure-Python emitter takes (render is a CLI: its start-up
cost is measured, see benchmarks/). Reading is light (PyYAML only, for the comment header): the
runtime commands import this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from llmstack.escaping import json_text
from llmstack.paths import MANIFEST

__all__ = ["MANIFEST", "document", "read", "recorded_models"]

FORMAT = 1  # bumped when the layout changes incompatibly


def document(summary: dict[str, Any], inputs: dict[str, Any], models: dict[str, Any]) -> str:
    """The manifest's body (deterministic: insertion order, two-space indent, a trailing newline)."""
    data = {"format": FORMAT, "stack": summary, "inputs": inputs, "models": models}
    return json_text(data, indent=2) + "\n"


def read(directory: Path) -> dict[str, Any] | None:
    """The manifest of a rendered directory, or None when there is none (or it is unreadable)."""
    try:
        text = (directory / MANIFEST).read_text(encoding="utf-8")
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    return data


def recorded_models(directory: Path) -> dict[str, Any]:
    """model input (as given) -> {"source": ..., "facts": ...} from an earlier render, if any."""
    data = read(directory)
    models = (data or {}).get("models")
    return models if isinstance(models, dict) else {}
