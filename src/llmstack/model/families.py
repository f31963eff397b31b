"""Model families: one table (`TABLE`) says, for every family, how a model is recognised as one
and what is true of all its members. Detection reads nothing but this table.

How a model's family is decided (`decide_family`):

1. The model's types, in this order: `model_type` and `text_config.model_type` of config.json,
   then `architectures[0]` without its `ForCausalLM` / `ForConditionalGeneration` / `LMHeadModel`
   / `Model` suffix (HF); `general.architecture` (GGUF); `pretrained_config.architecture`
   (TensorRT-LLM). They are compared lowercase without punctuation (`qwen3_moe` = `qwen3moe`).
   The first type a family lists in `model_types` makes that family the model's *owner*.
2. Families that share an architecture are told apart by `clues` (chat template markers, rope
   scaling, vocabulary, context): a clue names the owners it applies to in `within` (default: its
   own family). The table is walked in order and the first clue that holds wins; none holds: the
   owner. A clue may let the model's name pick among a few families (`names`).
3. No type in the table: "other". Nothing read at all: the family the name suggests (`names`
   patterns, table order), else unknown.

Put the specific before the general: the table's order decides both the clues and the names.
A new family is one `Family(...)` entry; tests add one with `register()`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

from llmstack.model.template import Template

OTHER = "other"  # a model whose type no family lists


@dataclass(frozen=True)
class Clue:
    """One way a model's files tell a family apart from the owner's other members: every
    condition given must hold. Template conditions read all chat templates of the model joined."""

    within: tuple[str, ...] = ()      # owners (families with `model_types`) it applies to; () = its own family
    template: bool | None = None      # True: the model has a chat template; False: it has none
    markers: tuple[str, ...] = ()     # the template holds every one of these
    any_marker: tuple[str, ...] = ()  # ... at least one of these
    no_marker: tuple[str, ...] = ()   # ... none of these
    pattern: str | None = None        # ... a match of this regular expression
    rope_type: str | None = None      # rope scaling of this type (config.json rope_scaling, TRT-LLM rotary_scaling)
    vocab_size: int | None = None     # exactly this many tokens
    context_above: int | None = None  # a context length above this
    context_known: bool | None = None  # the files state a context length (True) or do not (False)
    names: tuple[str, ...] = ()       # when it holds, a family among these that the name suggests wins
    why: str = ""                     # the origin says it: "<type origin> + <template origin> (why)"
    origin: str | None = None         # or this wording, with {kind}, {template}, {rope}, {context}


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...] = ()  # as the files spell them (see the module's docstring)
    clues: tuple[Clue, ...] = ()
    names: str | None = None           # a regular expression over the model's name (case ignored)
    always_reasoning: bool = False     # reasons whatever its chat template says (parsers apply always)
    # Its chat templates think unless told not to (`enable_thinking` false): a member whose template
    # was not read (a hub id not in the cache) is taken to think. Its reasoning parsers leave an answer
    # without <think> as it is (vLLM's qwen3 parser needs both tags), so a member that does not think
    # loses nothing.
    thinks_by_default: bool = False


# DeepSeek's special tokens use FULLWIDTH VERTICAL LINE (U+FF5C) and LOWER ONE EIGHTH BLOCK (U+2581).
_DEEPSEEK_MARKERS = ("<\uff5cAssistant\uff5c>", "<\uff5ctool\u2581calls\u2581begin\uff5c>", "<\uff5cUser\uff5c>")
_THINK = ("<think>", "</think>")
_LLAMA3_VOCAB = 128256

# Model types as the models publish them (config.json `model_type`, `text_config.model_type`,
# `architectures[0]` without its suffix) and GGUF `general.architecture` (llama.cpp
# src/llama-arch.cpp, b11312): both compared normalised, so `qwen3_5_moe` and GGUF `qwen35moe`
# are one key. Architecture names: vLLM 0.33.0 vllm/model_executor/models/registry.py.
_BUILTIN: tuple[Family, ...] = (
    # Kimi-K2 reuses DeepSeek-V3's architecture (GGUF: deepseek2); K2.5/K2.6 wrap it (kimi_k25,
    # text_config.model_type kimi_k2).
    Family("kimi-k2", ("kimi_k2", "kimi_k25"), names=r"kimi[-_. ]?k2", clues=(
        Clue(within=("deepseek-v3",), markers=("<|im_middle|>",), why="Kimi chat format"),
    )),
    Family("kimi-k3", ("kimi_k3",), names=r"kimi[-_. ]?k3"),
    Family("deepseek-v31", names=r"deepseek[-_. ]?v3[-_.]1", clues=(
        Clue(within=("deepseek-v3",), pattern=r"\bthinking\b", why="thinking switch"),
    )),
    # V3.2 writes tool calls in its own DSML format: its own family, never V3.1's parser.
    Family("deepseek-v32", ("deepseek_v32", "deepseek32"), names=r"deepseek[-_. ]?v3[-_.]2"),
    Family("deepseek-v41", ("deepseek_v41",), names=r"deepseek[-_. ]?v4[-_.]1"),
    Family("deepseek-v4", ("deepseek_v4", "deepseek4"), names=r"deepseek[-_. ]?v4"),
    Family("deepseek-r1", names=r"deepseek.*r1", always_reasoning=True, clues=(
        Clue(within=("qwen2", "qwen3", "llama3"), any_marker=_DEEPSEEK_MARKERS, why="DeepSeek-R1 distill chat format"),
        Clue(within=("deepseek-v3",), any_marker=_THINK, why="<think> reasoning"),
    )),
    Family("deepseek-v3", ("deepseek_v3", "deepseek2", "deepseek_v2"), names=r"deepseek[-_. ]?v3", clues=(
        Clue(template=True, why="no <think> handling"),
        Clue(names=("deepseek-v3", "deepseek-v31", "deepseek-v32", "deepseek-r1", "kimi-k2")),
    )),
    Family("qwen3-coder", names=r"qwen[-_. ]?3[-_.]?coder", clues=(
        Clue(within=("qwen3",), markers=("<function=",), why="<function= XML tool calls"),
    )),
    # Qwen3.5 / 3.6: the hybrid (linear attention) multimodal line; GGUF qwen35 / qwen35moe.
    Family("qwen3.5", ("qwen3_5", "qwen3_5_moe", "qwen3_5_text", "qwen3_5_moe_text"),
           names=r"qwen[-_ ]?3[._p][5-9](?!\d)"),
    # Qwen3's template (tests/fixtures Qwen3-8B) thinks unless `enable_thinking is false`.
    Family("qwen3", ("qwen3", "qwen3_moe", "qwen3_next", "qwen3_vl", "qwen3_vl_moe"), names=r"qwen[-_. ]?3",
           thinks_by_default=True),
    Family("qwen2", ("qwen2", "qwen2_moe", "qwen2_vl", "qwen2_5_vl"), names=r"qwq|qwen[-_. ]?2"),
    Family("hermes", names=r"hermes", clues=(
        Clue(within=("llama3", "mistral"), markers=("<tool_call>", "<|im_start|>"), why="ChatML with <tool_call>"),
    )),
    Family("llama4", ("llama4", "llama4_text"), names=r"llama[-_. ]?4"),
    Family("mistral", ("mistral", "mistral3", "mixtral", "pixtral", "ministral", "ministral3"),
           names=r"mistral|mixtral|ministral|devstral|magistral|codestral|pixtral", clues=(
        # Mistral converted as llama; Llama 2 has <<SYS>>
        Clue(within=("llama3",), markers=("[INST]",), no_marker=("<<SYS>>",), why="[INST] chat format"),
    )),
    Family("llama3.1", names=r"llama[-_. ]?3[-_.][123](?!\d)", clues=(
        Clue(within=("llama3",), rope_type="llama3"),
        Clue(within=("llama3",), markers=("Cutting Knowledge Date",), why="Llama 3.1 system header"),
        Clue(within=("llama3",), vocab_size=_LLAMA3_VOCAB, context_above=8192,
             origin="{kind} + Llama 3 vocabulary with {context} tokens of context"),
    )),
    # The llama architecture: Llama 3 by its vocabulary or chat format, else "other" (Llama 2, ...).
    Family("llama3", ("llama",), names=r"llama[-_. ]?3", clues=(
        Clue(vocab_size=_LLAMA3_VOCAB, template=False, context_known=False,
             names=("llama3", "llama3.1", "hermes", "deepseek-r1")),
        Clue(vocab_size=_LLAMA3_VOCAB, origin="{kind} (Llama 3 vocabulary, no llama3 rope scaling)"),
        Clue(markers=("<|start_header_id|>",), origin="{kind} (Llama 3 chat format, no llama3 rope scaling)"),
    )),
    # GLM-5 / 5.x (DSA sparse attention; GGUF glm-dsa, glm5-next) and GLM-4.7(-Flash: glm4_moe_lite)
    # write tool calls as `<tool_call>name<arg_key>`: the glm47 parsers.
    # GLM-4.5/4.7 templates (tests/fixtures) write <think> unless `not enable_thinking`.
    Family("glm5", ("glm_moe_dsa", "glm-dsa", "glm5_next", "glm5_next_text"), names=r"glm[-_. ]?5"),
    Family("glm47", ("glm4_moe_lite",), names=r"glm[-_. ]?4[-_.]7", thinks_by_default=True, clues=(
        Clue(within=("glm45",), markers=("<tool_call>{function-name}<arg_key>",), why="GLM-4.7 tool call format"),
    )),
    Family("glm45", ("glm4_moe", "glm4v_moe"), names=r"glm[-_. ]?4[-_.][56]", thinks_by_default=True, clues=(
        Clue(template=True, why="GLM-4.5/4.6 tool call format"),
        Clue(names=("glm45", "glm47")),
    )),
    Family("gpt-oss", ("gpt_oss",), names=r"gpt[-_. ]?oss", always_reasoning=True),
    Family("granite", ("granite", "granitemoe", "granitemoehybrid", "granitemoeshared", "granitehybrid"),
           names=r"granite"),
    Family("gemma4", ("gemma4", "gemma4_text"), names=r"gemma[-_. ]?4"),
    Family("gemma3", ("gemma3", "gemma3_text"), names=r"gemma[-_. ]?3"),
    Family("phi", ("phi", "phi2", "phi3", "phi4", "phi4mm", "phimoe", "phi3small", "phi3v"), names=r"phi[-_. ]?\d"),
    # MiniMax-M3 thinks in `<mm:think>` blocks (SGLang's template detection keys its reasoning parser on
    # them), which no <think> reading of its template sees: it reasons, whatever the template says.
    Family("minimax-m3", ("minimax_m3", "minimax_m3_vl", "minimax_m3_text", "MiniMaxM3Sparse"),
           names=r"minimax[-_. ]?m3", always_reasoning=True),
    Family("minimax-m2", ("minimax_m2",), names=r"minimax[-_. ]?m2"),
    Family("seed-oss", ("seed_oss",), names=r"seed[-_. ]?oss"),
    # Step-3.5 and 3.7 Flash share the step3p5 architecture (GGUF step35).
    Family("step3.5", ("step3p5", "step35"), names=r"step[-_. ]?3[-_.p]?[57]"),
    Family("ernie4.5", ("ernie4_5", "ernie4_5_moe"), names=r"ernie[-_. ]?4[-_.]5"),
    Family("hunyuan-a13b", ("hunyuan_v1_moe", "HunYuanMoEV1", "hunyuan-moe"), names=r"hunyuan[-_. ]?a13b"),
    Family("hy3", ("hy_v3",), names=r"\bhy[-_. ]?3\b"),
    Family("hy4", ("hy_v4",), names=r"\bhy[-_. ]?4\b"),
    # Nemotron 3 (Nano/Super/Ultra) writes Qwen3-Coder's `<function=` tool calls; Nemotron-H v2 its
    # own <TOOLCALL> format, which no registry names (vLLM recipes load a plugin for it).
    Family("nemotron3", names=r"nemotron[-_. ]?3", clues=(
        Clue(within=("nemotron-h",), markers=("<function=",), why="<function= XML tool calls"),
    )),
    Family("nemotron-h", ("nemotron_h", "nemotron_h_moe"), names=r"nemotron"),
    Family(OTHER, clues=(
        Clue(within=("llama3",), names=("llama3", "llama3.1", "hermes", "deepseek-r1", "mistral")),
    )),
)


# ----------------------------------------------------------------------------------------------
# The table and its indexes
# ----------------------------------------------------------------------------------------------

_ARCH_SUFFIX = re.compile(r"(ForCausalLM|ForConditionalGeneration|LMHeadModel|Model)$")


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def kind_from_architecture(architecture: str) -> str:
    return norm(_ARCH_SUFFIX.sub("", architecture))


class _Index(NamedTuple):
    table: tuple[Family, ...]
    by_name: dict[str, Family]
    owner: dict[str, Family]            # normalised model type -> family
    names: tuple[tuple[re.Pattern[str], str], ...]


def _index(table: tuple[Family, ...]) -> _Index:
    """The table checked and indexed; ValueError names what is wrong with an entry."""
    by_name: dict[str, Family] = {}
    owner: dict[str, Family] = {}
    names: list[tuple[re.Pattern[str], str]] = []
    for family in table:
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", family.name) or family.name in by_name:
            raise ValueError(f"family {family.name!r}: a new lowercase name (letters, digits, '.', '-')")
        by_name[family.name] = family
        for model_type in family.model_types:
            key = norm(model_type)
            if not key or key in owner:
                raise ValueError(f"family {family.name!r}: model type {model_type!r} is "
                                 f"{'empty' if not key else 'listed by ' + owner[key].name}")
            owner[key] = family
        if family.names is not None:
            names.append((re.compile(family.names, re.IGNORECASE), family.name))
    owners = {family.name for family in owner.values()}
    for family in table:
        for clue in family.clues:
            if clue.pattern is not None:
                re.compile(clue.pattern)
            for within in clue.within or (family.name,):
                if within not in owners:
                    raise ValueError(f"family {family.name!r}: a clue within {within!r}, which lists no model types")
            for choice in clue.names:
                if choice not in by_name:
                    raise ValueError(f"family {family.name!r}: a clue names the unknown family {choice!r}")
    if OTHER not in by_name:
        raise ValueError(f"the table needs the family {OTHER!r}")
    return _Index(table, by_name, owner, tuple(names))


_INDEX = _index(_BUILTIN)


def table() -> tuple[Family, ...]:
    return _INDEX.table


def names() -> tuple[str, ...]:
    """Every family's name, in table order."""
    return tuple(family.name for family in _INDEX.table)


def always_reasons(family: str | None) -> bool:
    """Does this family reason whatever its chat template says?"""
    entry = _INDEX.by_name.get(family or "")
    return entry is not None and entry.always_reasoning


def thinks_by_default(family: str | None) -> bool:
    """Do this family's models think unless told not to (for a model whose template was not read)?"""
    entry = _INDEX.by_name.get(family or "")
    return entry is not None and entry.thinks_by_default


def register(family: Family, *, before: str | None = None) -> None:
    """Add a family to the table: at the end, or before the named family (the order decides)."""
    global _INDEX
    entries = list(_INDEX.table)
    if before is None:
        entries.append(family)
    elif before in _INDEX.by_name:
        entries.insert(entries.index(_INDEX.by_name[before]), family)
    else:
        raise ValueError(f"register {family.name!r} before {before!r}: no such family")
    _INDEX = _index(tuple(entries))


def unregister(name: str) -> None:
    global _INDEX
    _INDEX = _index(tuple(family for family in _INDEX.table if family.name != name))


@contextmanager
def registered(family: Family, *, before: str | None = None) -> Iterator[Family]:
    """`register()` for the duration of a `with` block (tests)."""
    register(family, before=before)
    try:
        yield family
    finally:
        unregister(family.name)


# ----------------------------------------------------------------------------------------------
# Detection
# ----------------------------------------------------------------------------------------------

class FamilyInput(NamedTuple):
    kinds: list[tuple[str, str]]        # (normalised model type, origin) in priority order
    template: Template | None
    rope_type: tuple[str, str] | None  # ("llama3", origin)
    vocab_size: int | None
    context_length: int | None
    name: str | None


def family_from_name(name: str) -> str | None:
    """The family a model name suggests (the fallback when no file says it), or None."""
    for pattern, family in _INDEX.names:
        if pattern.search(name):
            return family
    return None


def _holds(clue: Clue, info: FamilyInput) -> bool:
    text = info.template.text if info.template else ""
    context = info.context_length
    return all((
        clue.template is None or (info.template is not None) == clue.template,
        all(marker in text for marker in clue.markers),
        not clue.any_marker or any(marker in text for marker in clue.any_marker),
        not any(marker in text for marker in clue.no_marker),
        clue.pattern is None or re.search(clue.pattern, text) is not None,
        clue.rope_type is None or (info.rope_type is not None and info.rope_type[0] == clue.rope_type),
        clue.vocab_size is None or info.vocab_size == clue.vocab_size,
        clue.context_above is None or (context is not None and context > clue.context_above),
        clue.context_known is None or (context is not None) == clue.context_known,
    ))


def _claim(family: Family, clue: Clue, kind_origin: str, info: FamilyInput) -> tuple[str, str]:
    if clue.names:
        guess = family_from_name(info.name) if info.name else None
        if guess in clue.names:
            return guess, f"{kind_origin}; variant guessed from the name {info.name!r}"
    if clue.origin is not None:
        return family.name, clue.origin.format(
            kind=kind_origin, template=info.template.origin if info.template else None,
            rope=info.rope_type[1] if info.rope_type else None, context=info.context_length)
    if clue.template or clue.markers or clue.any_marker or clue.no_marker or clue.pattern:
        assert info.template is not None
        return family.name, f"{kind_origin} + {info.template.origin} ({clue.why})"
    if clue.rope_type is not None and info.rope_type is not None:
        return family.name, f"{kind_origin} + {info.rope_type[1]}"
    return family.name, kind_origin


def decide_family(info: FamilyInput) -> tuple[str | None, str | None]:
    """(family, origin) from the model's own files; the name only when they cannot tell."""
    owner = kind_origin = None
    for kind, origin in info.kinds:
        if kind in _INDEX.owner:
            owner, kind_origin = _INDEX.owner[kind], origin
            break
    if owner is None or kind_origin is None:
        if info.kinds:
            return OTHER, f"{info.kinds[0][1]} (no family table entry)"
        guess = family_from_name(info.name) if info.name else None
        if guess:
            return guess, f"guessed from the name {info.name!r}"
        return None, None
    for family in _INDEX.table:
        for clue in family.clues:
            if owner.name in (clue.within or (family.name,)) and _holds(clue, info):
                return _claim(family, clue, kind_origin, info)
    return owner.name, kind_origin


# ----------------------------------------------------------------------------------------------
# What a name suggests about vision
# ----------------------------------------------------------------------------------------------

_VISION_NAME = re.compile(
    r"(?:[-_.]vl\b|[-_]vl[-_]|vision|llava|pixtral|internvl|glm-?4(?:\.\d)?v|minicpm-?v|gemma-?3|idefics|molmo"
    r"|smolvlm|phi-?[34](?:\.\d)?-vision)",
    re.IGNORECASE,
)


def vision_from_name(name: str) -> bool:
    """Today's fallback when nothing can be read: does the name suggest a vision-language model?"""
    return _VISION_NAME.search(name) is not None
