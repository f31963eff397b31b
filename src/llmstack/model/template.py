"""What a model's chat template says about it: does it think (<think> tags, harmony channels),
does it handle tools."""

from __future__ import annotations

import re
from typing import NamedTuple

from llmstack.model.facts import Collector


class Template(NamedTuple):
    text: str       # all templates of the model joined (named variants included)
    origin: str     # "tokenizer_config.json: chat_template"


def joined(templates: list[Template]) -> Template | None:
    if not templates:
        return None
    return Template("\n".join(t.text for t in templates), templates[0].origin)


def template_facts(out: Collector, template: Template | None) -> None:
    if template is None:
        out.note("no chat template found: thinking and tool support unknown")
        return
    text = template.text
    if "<think>" in text or "</think>" in text:
        out.set("thinking", True, f"{template.origin} (handles <think>)")
    elif "<|channel|>" in text:
        out.set("thinking", True, f"{template.origin} (harmony analysis channel)")
    else:
        out.set("thinking", False, f"{template.origin} (no <think> handling)")
    if re.search(r"\btools\b", text) or "tool_calls" in text:
        out.set("tool_template", True, f"{template.origin} (handles tools)")
    else:
        out.set("tool_template", False, f"{template.origin} (no tools handling)")
