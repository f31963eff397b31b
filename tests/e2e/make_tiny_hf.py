"""Write a tiny random-weight Qwen3 model directory that the real vLLM server loads and serves.

Nothing is downloaded from a model hub; everything is generated offline, deterministically (fixed
seeds), in well under a second, about 1.7 MB:

- `config.json`: `Qwen3ForCausalLM` (the real Qwen3 architecture: q/k norms, grouped KV heads),
  hidden size 128, 2 layers, 4 attention heads over 2 KV heads of 32, float32,
  `max_position_embeddings` 65536 (room for Claude Code's requests, ~25 tools and a long system
  prompt).
- `model.safetensors`: random weights (normal, std 0.02; norms 1), written with `safetensors`.
  Greedy output is therefore fixed but meaningless text. One exception, so that grammar-forced
  output ends: a random model prefers optional JSON whitespace forever (`{  \n  \n ...` until
  max_tokens, seen with vLLM 0.32's forced tool calls). Hidden dimension 0 of every embedding is a
  constant 1 (the residual stream then carries it through the two small random layers, and the
  final norm makes it dominate), and the untied output matrix turns that dimension into a per-token
  bias: -1 for tokens that are only whitespace, 0 for all others. Whitespace is then never the
  model's choice when anything else is allowed; among the other tokens the random weights decide.
- `tokenizer.json`: a byte-level BPE (any text, any byte, can be encoded) trained here on a few KB
  of generated text and written in the `tokenizers` file format (vLLM loads it with `tokenizers`;
  the package itself is not a test dependency: it brings huggingface_hub and with it `click`, which
  changes what mypy sees in src/llmstack/_click.py), plus the special and added tokens that Qwen3's chat
  template and vLLM's Qwen3 parsers use: `<|endoftext|>`, `<|im_start|>`, `<|im_end|>` (special,
  stripped from answers) and `<tool_call>`, `</tool_call>`, `<tool_response>`,
  `</tool_response>`, `<think>`, `</think>` (ordinary added tokens, kept in the decoded text, as
  the parsers need; vLLM's qwen3 reasoning parser also needs `<think>`/`</think>` to be single
  tokens: vllm/parser/qwen3.py, `token_id_terminals`).
- `tokenizer_config.json`: Qwen3's own chat template (tools in the system prompt, `<tool_call>`
  JSON calls, `<think>` reasoning, `enable_thinking`), read from llama.cpp's copy of it,
  `models/templates/Qwen-Qwen3-0.6B.jinja`, in PyPI's llama-cpp-python sdist (the version
  tests/e2e/images.py pins; the sdist is cached there): a released package, not a hand-written
  imitation.
- `generation_config.json`: end of turn `<|im_end|>` or `<|endoftext|>`, as Qwen3's.

    python -m tests.e2e.make_tiny_hf OUT_DIR
"""

from __future__ import annotations

import json
import re
import sys
import tarfile
from pathlib import Path

import numpy as np

SEED = 20261129
TEMPLATE_MEMBER = "vendor/llama.cpp/models/templates/Qwen-Qwen3-0.6B.jinja"
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
ADDED = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>"]
VOCAB = 1024  # BPE merges + 256 bytes; the tokens above come on top
HIDDEN, INTERMEDIATE, LAYERS, HEADS, KV_HEADS, HEAD_DIM = 128, 256, 2, 4, 2, 32
CONTEXT = 65536

WORDS = ("the weather is sunny in Paris Tokyo London city name arguments get current tool call function "
         "result user assistant system you can help with today hello world and to of it that this "
         "file read write edit run command bash echo list search code python test error output "
         "answer question think reason step first then because so not yes no please thanks").split()
PUNCTUATION = ['{"', '": "', '", "', '"}', '": {', "}}", "[", "]", ", ", ". ", "? ", "\n", "\n\n", "  ", "_", "-",
               "/", ":", "(", ")", "<", ">", "=", "'", "`", "#", "*", "0", "1", "2", "42", "100"]


def template_text(sdist: Path | None = None) -> str:
    """Qwen3's chat template from the cached llama-cpp-python sdist (downloaded if missing)."""
    if sdist is None:
        from tests.e2e.images import llama_cpp_sdist

        sdist = llama_cpp_sdist()
    with tarfile.open(sdist) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("/" + TEMPLATE_MEMBER))
        handle = archive.extractfile(member)
        assert handle is not None
        return handle.read().decode()


def _corpus() -> list[str]:
    rng = np.random.default_rng(SEED)
    lines = []
    for _ in range(400):
        pieces = [WORDS[i] if rng.random() < 0.7 else PUNCTUATION[i % len(PUNCTUATION)]
                  for i in rng.integers(0, len(WORDS), size=12)]
        lines.append(" ".join(pieces))
    return lines


def _byte_alphabet() -> list[str]:
    """The byte-level BPE alphabet (GPT-2's, which the `tokenizers` ByteLevel pre-tokenizer and
    decoder use): printable Latin-1 bytes stand for themselves, the other bytes, in order, for
    U+0100 onwards (space is `Ġ`, newline `Ċ`)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    alphabet, shifted = [], 0
    for byte in range(256):
        if byte in printable:
            alphabet.append(chr(byte))
        else:
            alphabet.append(chr(0x100 + shifted))
            shifted += 1
    return alphabet


def _train_bpe(lines: list[str], size: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Byte-level BPE merges learnt from `lines` (most frequent pair first, ties by the pair)."""
    alphabet = _byte_alphabet()
    words: dict[tuple[str, ...], int] = {}
    for line in lines:
        for piece in re.findall(r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+", line):
            word = tuple(alphabet[b] for b in piece.encode())
            words[word] = words.get(word, 0) + 1
    vocab, merges = list(alphabet), []
    while len(vocab) < size:
        pairs: dict[tuple[str, str], int] = {}
        for word, count in words.items():
            for pair in zip(word, word[1:], strict=False):
                pairs[pair] = pairs.get(pair, 0) + count
        if not pairs:
            break
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        if pairs[best] < 2:
            break
        merges.append(best)
        vocab.append(best[0] + best[1])
        merged = {}
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if word[i:i + 2] == best:
                    out.append(best[0] + best[1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + count
        words = merged
    return vocab, merges


def _tokenizer_json(vocab: list[str], merges: list[tuple[str, str]], special: list[str] = SPECIAL,
                    added_words: list[str] = ADDED) -> dict:
    """What `tokenizers` saves for a byte-level BPE with added tokens (tokenizer.json, version 1.0):
    `special` then `added_words` after the vocabulary."""
    added = [{"id": len(vocab) + i, "content": token, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": token in special} for i, token in enumerate(special + added_words)]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": byte_level, "post_processor": None, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {token: i for i, token in enumerate(vocab)}, "merges": [list(m) for m in merges]},
    }


def _is_whitespace(token: str) -> bool:
    byte_of = {char: byte for byte, char in enumerate(_byte_alphabet())}
    text = bytes(byte_of[char] for char in token).decode(errors="replace")
    return bool(text) and not text.strip()


def _weights(vocab: int, whitespace: list[int]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)

    def dense(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * 0.02).astype(np.float32)

    def ones(size: int) -> np.ndarray:
        return np.ones(size, dtype=np.float32)

    embed, output = dense(vocab, HIDDEN), dense(vocab, HIDDEN)
    embed[:, 0] = 1.0  # a constant direction in the residual stream ...
    output[:, 0] = 0.0
    output[whitespace, 0] = -1.0  # ... read out as a bias against whitespace-only tokens
    tensors = {"model.embed_tokens.weight": embed, "lm_head.weight": output, "model.norm.weight": ones(HIDDEN)}
    for layer in range(LAYERS):
        p = f"model.layers.{layer}."
        tensors.update({
            p + "input_layernorm.weight": ones(HIDDEN),
            p + "post_attention_layernorm.weight": ones(HIDDEN),
            p + "self_attn.q_proj.weight": dense(HEADS * HEAD_DIM, HIDDEN),
            p + "self_attn.k_proj.weight": dense(KV_HEADS * HEAD_DIM, HIDDEN),
            p + "self_attn.v_proj.weight": dense(KV_HEADS * HEAD_DIM, HIDDEN),
            p + "self_attn.o_proj.weight": dense(HIDDEN, HEADS * HEAD_DIM),
            p + "self_attn.q_norm.weight": ones(HEAD_DIM),
            p + "self_attn.k_norm.weight": ones(HEAD_DIM),
            p + "mlp.gate_proj.weight": dense(INTERMEDIATE, HIDDEN),
            p + "mlp.up_proj.weight": dense(INTERMEDIATE, HIDDEN),
            p + "mlp.down_proj.weight": dense(HIDDEN, INTERMEDIATE),
        })
    return tensors


def write(out: Path, template: str | None = None) -> Path:
    """Write the model directory `out` (created) and return it."""
    from safetensors.numpy import save_file

    out.mkdir(parents=True, exist_ok=True)
    vocab, merges = _train_bpe(_corpus(), VOCAB)
    (out / "tokenizer.json").write_text(json.dumps(_tokenizer_json(vocab, merges), ensure_ascii=False) + "\n")
    ids = {token: len(vocab) + i for i, token in enumerate(SPECIAL + ADDED)}
    size = len(vocab) + len(ids)
    whitespace = [i for i, token in enumerate(vocab) if _is_whitespace(token)]
    save_file(_weights(size, whitespace), str(out / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": size,
        "hidden_size": HIDDEN, "intermediate_size": INTERMEDIATE, "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS, "head_dim": HEAD_DIM,
        "hidden_act": "silu", "max_position_embeddings": CONTEXT, "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0, "attention_bias": False, "attention_dropout": 0.0,
        "tie_word_embeddings": False, "torch_dtype": "float32", "initializer_range": 0.02,
        "use_sliding_window": False, "sliding_window": None, "max_window_layers": LAYERS, "use_cache": True,
        "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": ids["<|endoftext|>"], "eos_token_id": [ids["<|im_end|>"], ids["<|endoftext|>"]],
         "pad_token_id": ids["<|endoftext|>"]}, indent=2) + "\n")
    added = {str(ids[t]): {"content": t, "lstrip": False, "rstrip": False, "normalized": False,
                           "single_word": False, "special": t in SPECIAL} for t in SPECIAL + ADDED}
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": CONTEXT,
        "bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "unk_token": None,
        "add_bos_token": False, "add_prefix_space": False, "clean_up_tokenization_spaces": False,
        "errors": "replace", "split_special_tokens": False, "added_tokens_decoder": added,
        "chat_template": template if template is not None else template_text(),
    }, indent=2) + "\n")
    return out


if __name__ == "__main__":
    print(write(Path(sys.argv[1])))
