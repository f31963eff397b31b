"""Model families: which family a model belongs to, from its own files first and its name last."""

from __future__ import annotations

import re
from typing import NamedTuple

from llmstack.model.template import Template

FAMILIES = (
    "qwen2", "qwen3", "qwen3-coder", "llama3", "llama3.1", "llama4", "mistral", "glm45", "glm47",
    "deepseek-v3", "deepseek-v31", "deepseek-r1", "gpt-oss", "kimi-k2", "granite", "hermes",
    "gemma3", "phi", "other",
)

# ----------------------------------------------------------------------------------------------
# Name-based fallback
# ----------------------------------------------------------------------------------------------

_NAME_RULES: tuple[tuple[str, str], ...] = (
    (r"deepseek.*r1", "deepseek-r1"),
    (r"deepseek[-_. ]?v3[-_.][12]", "deepseek-v31"),
    (r"deepseek[-_. ]?v3", "deepseek-v3"),
    (r"qwen[-_. ]?3[-_.]?coder", "qwen3-coder"),
    (r"qwen[-_. ]?3", "qwen3"),
    (r"qwq|qwen[-_. ]?2", "qwen2"),
    (r"hermes", "hermes"),
    (r"llama[-_. ]?4", "llama4"),
    (r"llama[-_. ]?3[-_.][123](?!\d)", "llama3.1"),
    (r"llama[-_. ]?3", "llama3"),
    (r"mistral|mixtral|ministral|devstral|magistral|codestral|pixtral", "mistral"),
    (r"glm[-_. ]?4[-_.]7", "glm47"),
    (r"glm[-_. ]?4[-_.][56]", "glm45"),
    (r"gpt[-_. ]?oss", "gpt-oss"),
    (r"kimi[-_. ]?k2", "kimi-k2"),
    (r"granite", "granite"),
    (r"gemma[-_. ]?3", "gemma3"),
    (r"phi[-_. ]?\d", "phi"),
)


_VISION_NAME = re.compile(
    r"(?:[-_.]vl\b|[-_]vl[-_]|vision|llava|pixtral|internvl|glm-?4(?:\.\d)?v|minicpm-?v|gemma-?3|idefics|molmo"
    r"|smolvlm|phi-?[34](?:\.\d)?-vision)",
    re.IGNORECASE,
)


def vision_from_name(name: str) -> bool:
    """Today's fallback when nothing can be read: does the name suggest a vision-language model?"""
    return _VISION_NAME.search(name) is not None


def family_from_name(name: str) -> str | None:
    """The family a model name suggests (the fallback when no file says it), or None."""
    for pattern, family in _NAME_RULES:
        if re.search(pattern, name, re.IGNORECASE):
            return family
    return None


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


# ----------------------------------------------------------------------------------------------
# Family detection
# ----------------------------------------------------------------------------------------------

# Normalised model_type / GGUF architecture / architecture-class stem -> base family.
_BASE_FAMILY: dict[str, str] = {
    "qwen2": "qwen2", "qwen2moe": "qwen2", "qwen2vl": "qwen2", "qwen25vl": "qwen2",
    "qwen3": "qwen3", "qwen3moe": "qwen3", "qwen3next": "qwen3", "qwen3vl": "qwen3", "qwen3vlmoe": "qwen3",
    "llama": "llama",
    "llama4": "llama4", "llama4text": "llama4",
    "mistral": "mistral", "mistral3": "mistral", "mixtral": "mistral", "pixtral": "mistral",
    "ministral": "mistral", "ministral3": "mistral",
    "glm4moe": "glm", "glm4vmoe": "glm",
    "deepseekv3": "deepseek", "deepseekv32": "deepseek", "deepseek2": "deepseek", "deepseekv2": "deepseek",
    "kimik2": "kimi-k2",
    "gptoss": "gpt-oss",
    "granite": "granite", "granitemoe": "granite", "granitemoehybrid": "granite",
    "granitemoeshared": "granite", "granitehybrid": "granite",
    "gemma3": "gemma3", "gemma3text": "gemma3",
    "phi": "phi", "phi2": "phi", "phi3": "phi", "phi4": "phi", "phi4mm": "phi", "phimoe": "phi",
    "phi3small": "phi", "phi3v": "phi",
}

_ARCH_SUFFIX = re.compile(r"(ForCausalLM|ForConditionalGeneration|LMHeadModel|Model)$")

# DeepSeek's special tokens use FULLWIDTH VERTICAL LINE (U+FF5C) and LOWER ONE EIGHTH BLOCK (U+2581).
_DEEPSEEK_MARKERS = ("<\uff5cAssistant\uff5c>", "<\uff5ctool\u2581calls\u2581begin\uff5c>", "<\uff5cUser\uff5c>")


def kind_from_architecture(architecture: str) -> str:
    return norm(_ARCH_SUFFIX.sub("", architecture))


class FamilyInput(NamedTuple):
    kinds: list[tuple[str, str]]        # (normalised kind, origin) in priority order
    template: Template | None
    rope_type: tuple[str, str] | None  # ("llama3", origin)
    vocab_size: int | None
    context_length: int | None
    name: str | None


def decide_family(info: FamilyInput) -> tuple[str | None, str | None]:
    """(family, origin) from the model's own files; name only when they cannot tell."""
    base = kind_origin = None
    for kind, origin in info.kinds:
        if kind in _BASE_FAMILY:
            base, kind_origin = _BASE_FAMILY[kind], origin
            break
    text = info.template.text if info.template else ""
    tpl = info.template.origin if info.template else None

    def with_template(family: str, why: str) -> tuple[str, str]:
        return family, f"{kind_origin} + {tpl} ({why})"

    def from_name(allowed: set[str], fallback: str | None) -> tuple[str | None, str | None]:
        guess = family_from_name(info.name) if info.name else None
        if guess in allowed:
            return guess, f"{kind_origin}; variant guessed from the name {info.name!r}"
        if fallback is None:
            return None, None
        return fallback, kind_origin

    if base is None:
        if info.kinds:
            return "other", f"{info.kinds[0][1]} (no family table entry)"
        guess = family_from_name(info.name) if info.name else None
        if guess:
            return guess, f"guessed from the name {info.name!r}"
        return None, None

    deepseek_template = any(marker in text for marker in _DEEPSEEK_MARKERS)
    if base in ("qwen2", "qwen3", "llama") and deepseek_template:
        return with_template("deepseek-r1", "DeepSeek-R1 distill chat format")
    if base == "qwen3":
        if "<function=" in text:
            return with_template("qwen3-coder", "<function= XML tool calls")
        return "qwen3", kind_origin
    if base == "qwen2":
        return "qwen2", kind_origin
    if base in ("llama", "mistral") and "<tool_call>" in text and "<|im_start|>" in text:
        return with_template("hermes", "ChatML with <tool_call>")
    if base == "llama":
        if "[INST]" in text and "<<SYS>>" not in text:  # Mistral converted as llama; Llama 2 has <<SYS>>
            return with_template("mistral", "[INST] chat format")
        if info.rope_type and info.rope_type[0] == "llama3":
            return "llama3.1", f"{kind_origin} + {info.rope_type[1]}"
        if "Cutting Knowledge Date" in text:
            return with_template("llama3.1", "Llama 3.1 system header")
        llama3_vocab = info.vocab_size == 128256
        if llama3_vocab and info.context_length is not None and info.context_length > 8192:
            return "llama3.1", f"{kind_origin} + Llama 3 vocabulary with {info.context_length} tokens of context"
        if llama3_vocab or "<|start_header_id|>" in text:
            if info.template is None and info.context_length is None:
                return from_name({"llama3", "llama3.1", "hermes", "deepseek-r1"}, "llama3")
            why = "Llama 3 vocabulary" if llama3_vocab else "Llama 3 chat format"
            return "llama3", f"{kind_origin} ({why}, no llama3 rope scaling)"
        return from_name({"llama3", "llama3.1", "hermes", "deepseek-r1", "mistral"}, "other")
    if base == "glm":
        if "<tool_call>{function-name}<arg_key>" in text:
            return with_template("glm47", "GLM-4.7 tool call format")
        if tpl:
            return with_template("glm45", "GLM-4.5/4.6 tool call format")
        return from_name({"glm45", "glm47"}, "glm45")
    if base == "deepseek":
        if any(kind == "deepseekv32" for kind, _ in info.kinds):
            return "deepseek-v31", kind_origin
        if tpl:
            if "<|im_middle|>" in text:  # Kimi-K2 reuses DeepSeek-V3's architecture (GGUF: deepseek2)
                return with_template("kimi-k2", "Kimi chat format")
            if re.search(r"\bthinking\b", text):
                return with_template("deepseek-v31", "thinking switch")
            if "<think>" in text or "</think>" in text:
                return with_template("deepseek-r1", "<think> reasoning")
            return with_template("deepseek-v3", "no <think> handling")
        return from_name({"deepseek-v3", "deepseek-v31", "deepseek-r1", "kimi-k2"}, "deepseek-v3")
    return base, kind_origin
