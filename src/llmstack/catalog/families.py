"""What each engine gives a model family: ONE table, family x backend, for every catalogued version.

For each family (the names of llmstack.model.families) and backend, `Serving` lists the tool-call
and reasoning parser names in order of preference, and the switches the family needs on that
server. Which of the names a version gets is decided by that version's catalogue entry: the first
name its registry accepts. A version whose registry has none of them gets no parser, and render
says which catalogued versions have one (`catalog.with_tool_parser`). So nothing here is typed per
version: the registries read from the released packages decide.

Sources, per row: the release's own recipes (vLLM 0.33.0 `recipes/models/<org>/<model>.yaml`:
`features.tool_calling.args`, `features.reasoning.args`), docs (`docs/features/tool_calling.md`,
`reasoning_outputs.md`) and SGLang 0.5.23's template auto-detection
(`sglang/srt/parser/template_detection.py`: `TOOL_CALL_PARSER_RULES`, `REASONING_PARSER_RULES`),
as gathered in /work/coord/catalog-facts.md section 4. A name is only listed where the parser reads
that family's format: DeepSeek-V3.2 never falls back to V3.1's parser, GLM-4.7 never to GLM-4.5's.

Switches: `--trust-remote-code` runs Python code from the model's repository, so it is listed only
for families whose published config.json loads its configuration through `auto_map` (custom code)
AND whose vLLM recipe passes the switch: Kimi-K2/K2.5/K3, MiniMax-M2, Step-3.5. (Several recipes
pass it for models transformers or vLLM read natively, e.g. Qwen3.5 and GLM: not rendered.)
`--tokenizer-mode mistral` is NOT a switch: every catalogued vLLM picks Mistral's own tokenizer
with the default `auto` when the model directory has Mistral's files (`tekken.json` or
`tokenizer.model.v*`, and from 0.17 `consolidated*.safetensors`: vllm/tokenizers/registry.py
`resolve_tokenizer_args`; 0.33.0 docs/features/tool_calling.md: "The official format that is used
by default with `auto`"); forcing it on a Transformers-format copy would fail to load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

VLLM, SGLANG, TRTLLM = "vllm", "sglang", "trtllm"


@dataclass(frozen=True)
class Switch:
    """Server arguments a family needs, and why (the rendered comment says it)."""

    args: tuple[str, ...]
    why: str

    @property
    def flag(self) -> str:
        return self.args[0]


@dataclass(frozen=True)
class Serving:
    """Parser names in order of preference (the first a version's registry accepts wins)."""

    tool: tuple[str, ...] = ()
    # None: the server handles the family's reasoning by itself (no parser switch at all).
    reasoning: tuple[str, ...] | None = ()
    switches: tuple[Switch, ...] = ()


_REMOTE_CODE = Switch(("--trust-remote-code",),
                      "its config.json loads custom code (auto_map) and the vLLM recipe passes it; "
                      "this runs Python code from the model repository")


def _both(tool: tuple[str, ...], reasoning: tuple[str, ...] | None, sglang_tool: tuple[str, ...] = (),
          sglang_reasoning: tuple[str, ...] | None = (), remote_code: bool = False) -> dict[str, Serving]:
    switches = (_REMOTE_CODE,) if remote_code else ()
    rows = {VLLM: Serving(tool, reasoning, switches)}
    if sglang_tool or sglang_reasoning:
        rows[SGLANG] = Serving(sglang_tool, sglang_reasoning, switches)
    return rows


# family -> backend -> Serving. Backends without a row give that family no parser.
TABLE: Mapping[str, Mapping[str, Serving]] = {
    "qwen3": {**_both(("hermes",), ("qwen3",), ("qwen", "qwen25"), ("qwen3",)),
              TRTLLM: Serving(("qwen3",), ("qwen3",))},
    "qwen3.5": {**_both(("qwen3_coder",), ("qwen3",), ("qwen3_coder",), ("qwen3",)),
                TRTLLM: Serving(("qwen3_coder",), ("qwen3",))},
    "qwen3-coder": {**_both(("qwen3_xml", "qwen3_coder"), (), ("qwen3_coder",)),
                    TRTLLM: Serving(("qwen3_coder",))},
    "qwen2": _both(("hermes",), (), ("qwen", "qwen25")),
    "hermes": _both(("hermes",), (), ("qwen", "qwen25")),
    "llama4": _both(("llama4_pythonic",), (), ("pythonic",)),
    "llama3.1": _both(("llama3_json",), (), ("llama3",)),
    "mistral": _both(("mistral",), ("mistral",), ("mistral",), ("mistral",)),
    "glm45": _both(("glm45",), ("glm45",), ("glm45",), ("glm45",)),
    # GLM-4.7 and GLM-5 write `<tool_call>name<arg_key>`: glm47 only (vLLM 0.12's glm45 is another class).
    "glm47": _both(("glm47",), ("glm47", "glm45"), ("glm47",), ("glm45",)),
    "glm5": _both(("glm47",), ("glm47", "glm45"), ("glm47",), ("glm45",)),
    "deepseek-v3": {**_both(("deepseek_v3",), ("deepseek_v3",), ("deepseekv3",), ("deepseek-v3",)),
                    TRTLLM: Serving(("deepseek_v3",))},
    "deepseek-v31": {**_both(("deepseek_v31",), ("deepseek_v3",), ("deepseekv31",), ("deepseek-v3",)),
                     TRTLLM: Serving(("deepseek_v31",))},
    "deepseek-v32": {**_both(("deepseek_v32",), ("deepseek_v3",), ("deepseekv32",), ("deepseek-v3",)),
                     TRTLLM: Serving(("deepseek_v32",))},
    "deepseek-v4": _both(("deepseek_v4",), ("deepseek_v4",), ("deepseekv4",), ("deepseek-v4",)),
    "deepseek-v41": _both(("deepseek_v41",), ("deepseek_v41",), ("deepseekv41",), ("deepseek-v41",)),
    "deepseek-r1": {**_both((), ("deepseek_r1",), (), ("deepseek-r1",)),
                    TRTLLM: Serving((), ("deepseek-r1",))},
    "kimi-k2": {**_both(("kimi_k2",), ("kimi_k2",), ("kimi_k2",), ("kimi_k2",), remote_code=True),
                TRTLLM: Serving(("kimi_k2",))},
    "kimi-k3": _both(("kimi_k3",), ("kimi_k3",), ("kimi_k3",), ("kimi_k3",), remote_code=True),
    "minimax-m2": _both(("minimax_m2",), ("minimax_m2",), ("minimax-m2",), ("minimax",), remote_code=True),
    "minimax-m3": _both(("minimax_m3",), ("minimax_m3",), ("minimax-m3",), ("minimax-m3",)),
    "gpt-oss": _both(("openai",), None, ("gpt-oss",), ("gpt-oss",)),
    "granite": _both(("granite",), ("granite",)),
    "gemma4": _both(("gemma4",), ("gemma4",), ("gemma4",), ("gemma4",)),
    "seed-oss": _both(("seed_oss",), ("seed_oss",)),
    "step3.5": _both(("step3p5",), ("step3p5",), ("step3p5",), ("step3p5",), remote_code=True),
    "ernie4.5": _both(("ernie45",), ("ernie45",)),
    "hunyuan-a13b": _both(("hunyuan_a13b",), ("hunyuan_a13b",)),
    "hy3": _both(("hy_v3",), ("hy_v3",), ("hunyuan",), ("hunyuan",)),
    "hy4": _both(("hy_v4",), ("hy_v4",)),
    "nemotron3": _both(("qwen3_coder",), ("nemotron_v3",), ("qwen3_coder",), ("nemotron_3",)),
}

# For a model whose chat template thinks in <think> tags but whose family has no reasoning entry.
THINK_TAGS: Mapping[str, tuple[str, ...]] = {VLLM: ("deepseek_r1",), SGLANG: ("deepseek-r1",),
                                             TRTLLM: ("deepseek-r1",)}


def serving(family: str | None, backend: str) -> Serving | None:
    """The row of a family on a backend (None: that backend gives the family nothing)."""
    return TABLE.get(family or "", {}).get(backend)


def families_served(backend: str) -> tuple[str, ...]:
    return tuple(family for family, rows in TABLE.items() if backend in rows)
