"""Write a tiny Qwen3 model directory that the real vLLM server serves and that behaves like an
agent model on cue: the Hugging Face counterpart of make_agent_gguf (llama.cpp), for the vLLM
end-to-end tests and benchmarks.

The construction is make_agent_gguf's: the layers' attention and feed-forward weights are zero, so
the residual stream is the last token's embedding and the next token depends on the last token
alone; the embeddings are one-hot "classes" and the output matrix gives each scripted token its
successor. The chat template (make_agent_gguf's, plus a cue for `enable_thinking: false`) ends the
generation prompt with a cue token that picks the chain:

- `<|say|>`: `<think>` THINKING `</think>` ANSWER end of turn. vLLM's qwen3 reasoning parser
  returns THINKING as reasoning (OpenAI `reasoning`, Anthropic `thinking` block), ANSWER as text.
- `<|plain|>` when the request turns thinking off (`enable_thinking: false`: OpenAI
  `chat_template_kwargs` or `reasoning_effort: none`, Anthropic `thinking: {type: disabled}`):
  ANSWER end of turn, after an empty think block in the prompt (as Qwen3's template writes it).
- `<|bash|>` when a user message contains RUN_BASH and no tool result came back yet: a `<tool_call>`
  of the `Bash` tool running `echo TOOL_OUTPUT` (the whole JSON is one token), which vLLM's hermes
  parser returns as a tool call.
- `<|done|>` when a tool message holds TOOL_OUTPUT: TOOL_SEEN, the proof of a tool round trip (after an
  empty think block in the prompt: a model thinks once, before its tool call).
- `<|exec|>` when a user message contains RUN_BASH and the tools include Codex's `exec_command`: a
  tool call of it running the same command (make_agent_gguf's EXEC_OPEN + EXEC_CALL), after an
  empty think block in the prompt (see TEMPLATE).
- `<|long|>` when a user message contains LONG: ` tick tock ...` until max_tokens.

Every other token is followed by end of turn. Under a grammar that forbids it (a forced tool
call's arguments), the next choices are `}` and `{` and never whitespace (a random model writes JSON
whitespace forever under grammars, see make_tiny_hf): forced arguments come out as `{}`, a valid
object, unless the tool is strict (vLLM then pins them to the schema).

The vocabulary is bytes (byte-level BPE without merges) plus the template's and the chains' tokens,
so prompts cost one token per byte: keep them small (Claude Code runs use `--system-prompt` and
`--tools Bash`). About 0.3 MB, written in well under a second, byte-identical on every run.

`write(real_template=...)` makes the model carry a real model's chat template (make_agent_gguf's
`carrying`): vLLM runs the real template on every request and refuses what it refuses (a 400 with
the template's own message), and `llmstack render` finds its refusals in tokenizer_config.json.

    python -m tests.e2e.make_agent_hf OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from tests.e2e.make_agent_gguf import (
    ANSWER,
    BASH_CALL,
    CHAT_TEMPLATE,
    EXEC_CALL,
    EXEC_OPEN,
    THINKING,
    TOOL_SEEN,
    carrying,
)
from tests.e2e.make_tiny_hf import CONTEXT, _byte_alphabet, _is_whitespace, _tokenizer_json

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|say|>", "<|plain|>", "<|bash|>", "<|done|>",
           "<|long|>", "<|exec|>"]
# Kept in the decoded text (vLLM's parsers read <think> and <tool_call>; the chain words are the answers).
WORDS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>", THINKING,
         ANSWER, TOOL_SEEN, BASH_CALL, " tick", " tock", EXEC_OPEN, EXEC_CALL]
CHAINS = {
    "<|say|>": ["<think>", THINKING, "</think>", ANSWER, "<|im_end|>"],
    "<|plain|>": [ANSWER, "<|im_end|>"],
    "<|bash|>": ["<tool_call>", BASH_CALL, "</tool_call>", "<|im_end|>"],
    "<|exec|>": [EXEC_OPEN, EXEC_CALL, "</tool_call>", "<|im_end|>"],
    "<|done|>": [TOOL_SEEN, "<|im_end|>"],
    "<|long|>": [" tick", " tock", " tick"],  # a loop: ends at max_tokens
}
# make_agent_gguf's template, with Qwen3's switch: `enable_thinking: false` picks the plain answer.
# Answers without thinking follow an empty think block in the prompt, as Qwen3's own template writes
# it. vLLM 0.32's qwen3 parser reads it only when streaming (vllm/parser/abstract_parser.py
# DelegatingParser.parse_delta: reasoning has ended if the prompt's last reasoning token after the
# last turn boundary is `</think>`); otherwise it takes the output as reasoning until `</think>`
# unless the request turned thinking off (vllm/parser/qwen3.py, Qwen3Parser.extract_reasoning), so a
# non-streamed TOOL_SEEN answer is content only with thinking off. Codex's exec_command call gets the
# empty think block too: its `<tool_call>` opens with a token of its own (EXEC_OPEN), which the parser
# does not take for the end of reasoning (measured: the call came back as reasoning), so with
# thinking on (Codex's requests) it is a tool call only when streamed, as Codex and Claude Code ask.
EMPTY_THINK = "<think>\\n\\n</think>\\n\\n"
THINKING_OFF = "enable_thinking is defined and enable_thinking is false"
TEMPLATE = CHAT_TEMPLATE.replace(
    "{%- else %}{{- '<|say|>' }}",
    "{%- elif " + THINKING_OFF + " %}{{- '" + EMPTY_THINK + "<|plain|>' }}"
    "{%- else %}{{- '<|say|>' }}").replace("{{- '<|done|>' }}", "{{- '" + EMPTY_THINK + "<|done|>' }}").replace(
    "{{- '<|exec|>' }}", "{{- '" + EMPTY_THINK + "<|exec|>' }}")
assert TEMPLATE.count(EMPTY_THINK) == 3
HIDDEN, HEADS, KV_HEADS, HEAD_DIM, INTERMEDIATE = 64, 2, 1, 32, 64


def _weights(index: dict[str, int], whitespace: list[int]) -> dict[str, np.ndarray]:
    vocab = len(index)
    classes: dict[int, int] = {}  # token -> its class (0: every token outside a chain)
    favourite = {0: index["<|im_end|>"]}
    for start, chain in CHAINS.items():
        previous = start
        for nxt in chain:
            classes.setdefault(index[previous], len(classes) + 1)
            favourite[classes[index[previous]]] = index[nxt]
            previous = nxt
    assert len(classes) < HIDDEN
    embed = np.zeros((vocab, HIDDEN), dtype=np.float32)
    for token in range(vocab):
        embed[token, classes.get(token, 0)] = 1.0
    scale = float(np.sqrt(HIDDEN))  # the final RMSNorm turns a one-hot 1 into sqrt(HIDDEN)
    output = (np.random.default_rng(0).standard_normal((vocab, HIDDEN)) * 0.05).astype(np.float32)
    byte = {char: i for i, char in enumerate(_byte_alphabet())}
    output[byte["}"], 0], output[byte["{"], 0] = 6.0 / scale, 5.0 / scale  # under a grammar: `{}`
    output[whitespace, 0] = -6.0 / scale
    for cls, token in favourite.items():
        output[token, cls] = 12.0 / scale
    output[[index[t] for t in SPECIAL if t != "<|im_end|>"], :] = -12.0 / scale  # never a cue

    def zeros(rows: int, cols: int) -> np.ndarray:
        return np.zeros((rows, cols), dtype=np.float32)

    def ones(size: int) -> np.ndarray:
        return np.ones(size, dtype=np.float32)

    p = "model.layers.0."
    return {"model.embed_tokens.weight": embed, "lm_head.weight": output, "model.norm.weight": ones(HIDDEN),
            p + "input_layernorm.weight": ones(HIDDEN), p + "post_attention_layernorm.weight": ones(HIDDEN),
            p + "self_attn.q_proj.weight": zeros(HEADS * HEAD_DIM, HIDDEN),
            p + "self_attn.k_proj.weight": zeros(KV_HEADS * HEAD_DIM, HIDDEN),
            p + "self_attn.v_proj.weight": zeros(KV_HEADS * HEAD_DIM, HIDDEN),
            p + "self_attn.o_proj.weight": zeros(HIDDEN, HEADS * HEAD_DIM),
            p + "self_attn.q_norm.weight": ones(HEAD_DIM), p + "self_attn.k_norm.weight": ones(HEAD_DIM),
            p + "mlp.gate_proj.weight": zeros(INTERMEDIATE, HIDDEN),
            p + "mlp.up_proj.weight": zeros(INTERMEDIATE, HIDDEN),
            p + "mlp.down_proj.weight": zeros(HIDDEN, INTERMEDIATE)}


def write(out: Path, real_template: str | None = None) -> Path:
    """Write the model directory `out` (created) and return it. `real_template`: carry a real
    model's chat template (see `carrying`)."""
    from safetensors.numpy import save_file

    out.mkdir(parents=True, exist_ok=True)
    alphabet = _byte_alphabet()
    tokenizer = _tokenizer_json(alphabet, [], SPECIAL, WORDS)  # no merges: one token per byte
    (out / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False) + "\n")
    index = {token: i for i, token in enumerate(alphabet + SPECIAL + WORDS)}
    whitespace = [i for i, token in enumerate(alphabet) if _is_whitespace(token)]
    save_file(_weights(index, whitespace), str(out / "model.safetensors"), metadata={"format": "pt"})
    eos, bos = index["<|im_end|>"], index["<|endoftext|>"]
    config = {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": len(index),
        "hidden_size": HIDDEN, "intermediate_size": INTERMEDIATE, "num_hidden_layers": 1,
        "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS, "head_dim": HEAD_DIM,
        "hidden_act": "silu", "max_position_embeddings": CONTEXT, "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0, "attention_bias": False, "attention_dropout": 0.0,
        "tie_word_embeddings": False, "torch_dtype": "float32", "initializer_range": 0.02,
        "use_sliding_window": False, "sliding_window": None, "max_window_layers": 1, "use_cache": True,
        "bos_token_id": bos, "eos_token_id": eos,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": bos, "eos_token_id": [eos, bos], "pad_token_id": bos}, indent=2) + "\n")
    added = {str(index[t]): {"content": t, "lstrip": False, "rstrip": False, "normalized": False,
                             "single_word": False, "special": t in SPECIAL} for t in SPECIAL + WORDS}
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": CONTEXT,
        "bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "unk_token": None,
        "add_bos_token": False, "add_prefix_space": False, "clean_up_tokenization_spaces": False,
        "errors": "replace", "split_special_tokens": False, "added_tokens_decoder": added,
        "chat_template": carrying(real_template, TEMPLATE) if real_template else TEMPLATE,
    }, indent=2) + "\n")
    return out


if __name__ == "__main__":
    print(write(Path(sys.argv[1])))
