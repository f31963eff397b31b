"""Write a tiny random-weight llama GGUF model that llama.cpp's server can load and serve.

No model is downloaded: the file (~0.5 MB) is generated at test time with PyPI's `gguf`.
Everything around the weights is real: the server loads it (answering /health 503 then 200),
tokenizes with a SentencePiece-style vocabulary that has all 256 byte tokens (so any text, and
any grammar, can be produced), and renders a Hermes-style chat template with `<tool_call>`
blocks, which makes llama.cpp recognise tool calling and build a grammar for
`tool_choice: required`.

The weights are a hand-made "bigram" model rather than pure noise. llama.cpp's tool grammar
lets free text precede `<tool_call>`, which a random model would ramble through until
max_tokens. Attention and feed-forward weights are zero, so the residual stream is the last
token's embedding, a one-hot "class"; the output matrix then picks the next token per class:
after ordinary tokens `<tool_call>`, after `<tool_call>` a newline, after `}` `</tool_call>`, and
after `</tool_call>` end-of-turn. Where the grammar forbids the favourite, small noise decides
among the allowed tokens (so the enum value is Paris or Tokyo), except that optional whitespace
is never preferred. Plain chat therefore streams
`<tool_call>` / newline pieces until max_tokens: meaningless, but real tokens through the real
server.

Its trained context is 1M tokens, so a server started with a large `-c` spends a second or
two allocating the KV cache: time in which /health really answers 503.

    python -m tests.e2e.make_tiny_gguf OUT.gguf
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

# Hermes / Qwen2.5-style ChatML template with tools described in the system prompt.
CHAT_TEMPLATE = """\
{%- if tools %}
{{- '<|im_start|>system\\n' }}
{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}{%- else %}{{- 'You are a helpful assistant.' }}{%- endif %}
{{- '\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>' }}
{%- for tool in tools %}{{- '\\n' }}{{- tool | tojson }}{%- endfor %}
{{- '\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\\n</tool_call><|im_end|>\\n' }}
{%- elif messages[0]['role'] == 'system' %}
{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
{%- if message.role == 'user' or (message.role == 'system' and not loop.first) or (message.role == 'assistant' and not message.tool_calls) %}
{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}
{%- elif message.role == 'assistant' %}
{{- '<|im_start|>assistant' }}
{%- if message.content %}{{- '\\n' + message.content }}{%- endif %}
{%- for tool_call in message.tool_calls %}
{%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}
{{- '\\n<tool_call>\\n{\"name\": \"' }}{{- tool_call.name }}{{- '\", \"arguments\": ' }}
{%- if tool_call.arguments is string %}{{- tool_call.arguments }}{%- else %}{{- tool_call.arguments | tojson }}{%- endif %}
{{- '}\\n</tool_call>' }}
{%- endfor %}
{{- '<|im_end|>\\n' }}
{%- elif message.role == 'tool' %}
{%- if loop.index0 == 0 or messages[loop.index0 - 1].role != 'tool' %}{{- '<|im_start|>user' }}{%- endif %}
{{- '\\n<tool_response>\\n' }}{{- message.content }}{{- '\\n</tool_response>' }}
{%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}{{- '<|im_end|>\\n' }}{%- endif %}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}
"""

WORDS = ["Hello", "hello", "the", "a", "weather", "is", "sunny", "in", "Paris", "Tokyo", "city",
         "name", "arguments", "get", "_weather", "tool", "call", "I", "you", "can", "help", "with",
         "today", "world", "and", "to", "of", "it", "that", "this"]

# gguf token types
NORMAL, UNKNOWN, CONTROL, BYTE = 1, 2, 3, 6


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    tokens = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>"]
    types = [UNKNOWN, CONTROL, CONTROL, CONTROL, CONTROL, NORMAL, NORMAL]
    tokens += [f"<0x{i:02X}>" for i in range(256)]
    types += [BYTE] * 256
    for word in WORDS:
        for piece in (word, "\u2581" + word):
            if piece not in tokens:
                tokens.append(piece)
                types.append(NORMAL)
    scores = [0.0 if t != NORMAL else -float(i) / 100 for i, t in enumerate(types)]
    return tokens, scores, types


def write(path: Path, seed: int = 0, n_layer: int = 2) -> Path:
    n_embd = 64
    tokens, scores, types = vocabulary()
    n_vocab = len(tokens)
    rng = np.random.default_rng(seed)

    # Classes: 0 ordinary, 1 `<tool_call>`, 2 `}`, 3 `</tool_call>`; the favourite next token of each.
    open_id, close_id = tokens.index("<tool_call>"), tokens.index("</tool_call>")
    brace_id, newline_id = tokens.index("<0x7D>"), tokens.index("<0x0A>")
    eos_id = tokens.index("<|im_end|>")
    classes = {open_id: 1, brace_id: 2, close_id: 3}
    favourite = {0: open_id, 1: newline_id, 2: close_id, 3: eos_id}

    # numpy shapes are ggml's ne reversed: token_embd ne=[n_embd, n_vocab] -> (n_vocab, n_embd)
    embeddings = np.zeros((n_vocab, n_embd), dtype=np.float32)
    for token in range(n_vocab):
        embeddings[token, classes.get(token, 0)] = 1.0
    # RMS-normalised one-hot is sqrt(n_embd) in its class dimension: scale logits accordingly.
    scale = float(np.sqrt(n_embd))
    output = (rng.standard_normal((n_vocab, n_embd)) * 0.05).astype(np.float32)
    # Optional JSON whitespace loses to the structural character the grammar also allows, so a
    # forced tool call is short (no runs of tabs eating max_tokens).
    whitespace = [tokens.index(f"<0x{b:02X}>") for b in (0x09, 0x0A, 0x0D, 0x20)]
    output[np.ix_(whitespace, [0, 2, 3])] = -12.0 / scale
    for cls, token in favourite.items():
        output[token, cls] = 12.0 / scale
    output[[0, 1, 2, 3], :] = -12.0 / scale  # never <unk>, <s>, </s>, <|im_start|>
    return write_model(path, tokens, scores, types, CHAT_TEMPLATE, embeddings, output, n_layer=n_layer)


def write_model(path: Path, tokens: list[str], scores: list[float], types: list[int], template: str,
                embeddings: np.ndarray, output: np.ndarray, n_layer: int = 2, n_head: int = 4,
                eos: str = "<|im_end|>") -> Path:
    """A llama GGUF whose attention and feed-forward weights are zero: the next token depends on
    the last token's embedding alone (see the module docstring)."""
    import gguf

    n_vocab, n_embd = embeddings.shape
    n_ff, n_ctx = 2 * n_embd, 1 << 20
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("llmstack-tiny-test")
    writer.add_context_length(n_ctx)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head)
    writer.add_rope_dimension_count(n_embd // n_head)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(tokens.index(eos))
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(False)
    # No SentencePiece space prefix: the generation prompt after <|im_start|> must tokenize to
    # exactly its own text, or the tool-call grammar rejects it ("Failed to initialize samplers").
    writer.add_add_space_prefix(False)
    writer.add_chat_template(template)

    writer.add_tensor("token_embd.weight", embeddings)
    for i in range(n_layer):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"blk.{i}.{name}.weight", np.zeros((n_embd, n_embd), dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", np.zeros((n_ff, n_embd), dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", np.zeros((n_ff, n_embd), dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", np.zeros((n_embd, n_ff), dtype=np.float32))
    writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    writer.add_tensor("output.weight", output)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "tiny.gguf")
    print(write(out))
