"""What a model's chat template says about it: does it think (<think> tags, harmony channels),
does it handle tools; which template an engine renders agents' requests with; and what that
template makes of the conversations Claude Code and Codex send (chat_template.py runs it,
sandboxed; `check` records the result as a manifest.TemplateCheck).

Which template an engine uses, read in the engines' source:

- transformers 5.24.0 (vLLM, SGLang, TensorRT-LLM load the tokenizer through it),
  `tokenization_utils_base.py`: `chat_template.jinja` and `additional_chat_templates/<name>.jinja`
  take priority over the `chat_template` of `tokenizer_config.json` (a string, or a list of named
  templates); `get_chat_template(tools=...)` picks the `tool_use` template for a request with
  tools when the model has one, else `default`.
- llama.cpp (common/chat.cpp in the llama-cpp-python 0.3.36 sdist): `tokenizer.chat_template`,
  and `tokenizer.chat_template.tool_use` for a request with tools (`common_chat_templates_apply`).

Agents always send tools, so `served` picks the `tool_use` variant first.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from llmstack.manifest import TemplateCheck
from llmstack.model.facts import Collector, Template

__all__ = ["CHAT_TEMPLATE_FLAGS", "STRIP_BILLING", "SWITCHES", "SWITCH_DOES", "Template", "check", "joined",
           "reasons", "served", "template_facts", "unchecked", "unfixable"]

STRIP_BILLING = "strip_billing_header"
# Every switch of the gateway hook and what it does (gateway_hook.SWITCHES; a test keeps them equal).
SWITCH_DOES = {
    STRIP_BILLING: "drops Claude Code's per-conversation billing line from system prompts (a prefix-cache miss)",
    "fold_system": "makes a system or developer message after the first a user message where it stands",
    "system_into_user": "puts the system prompt at the head of the first user turn",
    "merge_turns": "makes consecutive turns of one role one turn",
    "tool_ids": "rewrites tool-call ids to nine letters and digits",
    "split_tool_calls": "gives each tool call an assistant turn of its own",
}
SWITCHES = tuple(SWITCH_DOES)
# Backend flags that replace the model's own template (vLLM, SGLang, llama.cpp spell them so).
CHAT_TEMPLATE_FLAGS = ("--chat-template", "--chat_template", "--chat-template-file")


def joined(templates: list[Template]) -> Template | None:
    if not templates:
        return None
    return Template("\n".join(t.text for t in templates), templates[0].origin)


def served(templates: Sequence[Template]) -> Template | None:
    """The template an engine renders a request with tools by (every agent request): the
    `tool_use` variant when there is one, else the default one; `templates` in priority order."""
    for name in ("tool_use", "default"):
        found = next((t for t in templates if t.name == name), None)
        if found is not None:
            return found
    return templates[0] if templates else None


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


# ---- running it against agents' requests ---------------------------------------------------------

@functools.cache
def checker() -> str:
    """A fingerprint of the check: the runner's source (its shapes, its sandbox) and Jinja's
    version. A record made by another check is not trusted: the template is run again."""
    import jinja2

    from llmstack.model import chat_template

    digest = hashlib.sha256(jinja2.__version__.encode())
    digest.update(Path(chat_template.__file__).read_bytes())
    return digest.hexdigest()[:16]


def _cache_file(sha256: str, engine: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "llmstack" / f"templates-{checker()}" / f"{sha256}-{engine.replace('.', '')}.json"


def _cached(sha256: str, engine: str) -> TemplateCheck | None:
    """An earlier check of the same template on this machine (best effort: any problem, no cache)."""
    try:
        found = TemplateCheck.from_dict(json.loads(_cache_file(sha256, engine).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
    if found is None or (found.sha256, found.engine, found.checker) != (sha256, engine, checker()):
        return None
    return found


def _keep(found: TemplateCheck) -> None:
    path = _cache_file(found.sha256, found.engine)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}")
        temp.write_text(json.dumps(found.to_dict()), encoding="utf-8")
        os.replace(temp, path)
    except OSError:
        pass


def unchecked(engine: str, why: str, origin: str = "") -> TemplateCheck:
    return TemplateCheck(engine, origin, checker=checker(), notes=(why,))


def check(template: Template | None, engine: str, recorded: TemplateCheck | None = None) -> TemplateCheck:
    """What `template` makes of agents' request shapes when `engine` renders it. An earlier check
    of the same text by the same checker (the manifest's `recorded`, else this machine's cache)
    stands; otherwise the template runs in chat_template's sandbox (a child process, bounded)."""
    from llmstack.model import chat_template as ct

    if template is None:
        return unchecked(engine, "no chat template in the model's files: not checked")
    sha256 = ct.template_sha256(template.text)
    for earlier in (recorded, _cached(sha256, engine)):
        if earlier is not None and (earlier.sha256, earlier.engine, earlier.checker) == (sha256, engine, checker()):
            return TemplateCheck(engine, template.origin, sha256, earlier.checker, earlier.checked, earlier.refused,
                                 earlier.adaptations, earlier.notes)
    findings = ct.check_template(template.text, engine=engine)
    found = TemplateCheck(engine, template.origin, sha256, checker(), findings.checked,
                          {r.shape: r.error for r in findings.refused}, findings.adaptations, findings.notes)
    if not found.notes:
        _keep(found)
    return found


def _quoted(error: str, width: int = 64) -> str:
    text = " ".join(error.split())
    return json.dumps(text if len(text) <= width else text[:width - 3] + "...", ensure_ascii=False)


def reasons(found: TemplateCheck, switches: Iterable[str]) -> dict[str, str]:
    """switch -> why the check switched it on: the shapes the template refused and its words."""
    from llmstack.model.chat_template import FOLD_SYSTEM, SHAPES, SYSTEM_INTO_USER

    wanted = set(switches)
    out: dict[str, str] = {}
    for switch in SWITCHES:
        if switch not in wanted or switch == STRIP_BILLING:
            continue
        fixes = {switch, FOLD_SYSTEM} if switch == SYSTEM_INTO_USER else {switch}
        shapes = [s for s in found.refused if s in SHAPES and SHAPES[s].fix in fixes]
        errors = list(dict.fromkeys(found.refused[s] for s in shapes))
        if shapes:
            out[switch] = f"the template refuses {', '.join(shapes)}: {_quoted(errors[0])}"
    return out


def unfixable(found: TemplateCheck) -> list[str]:
    """The shapes the template refuses that no switch adapts (a broken tool template, say)."""
    from llmstack.model.chat_template import SHAPES

    return [s for s in found.refused if s in SHAPES and (SHAPES[s].fix is None or s == "user_only")]
