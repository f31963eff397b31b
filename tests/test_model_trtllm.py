"""model.trtllm: facts of a TensorRT-LLM engine directory."""

from __future__ import annotations

from llmstack.model import inspect_path
from tests.model_helpers import FAMILIES, MODELS


def test_trtllm_engine_facts() -> None:
    directory = FAMILIES / "Llama-3.1-8B-Instruct-trtllm-engine"
    facts = inspect_path(directory)
    assert facts.format == "trtllm-engine"
    assert facts.architecture == "LlamaForCausalLM" and facts.family == "llama3.1"
    assert "rotary_scaling 'llama3'" in facts.origins["family"]
    assert facts.context_length == 32768
    assert facts.origins["context_length"] == "config.json: build_config.max_seq_len"
    assert facts.tp_size == 2 and facts.quantization == "fp8" and facts.dtype == "bfloat16"
    assert (facts.num_attention_heads, facts.num_kv_heads, facts.num_layers, facts.head_dim) == (32, 8, 32, 128)
    assert facts.vocab_size == 128256 and facts.hidden_size == 4096
    assert facts.kv_bytes_per_token == 131072
    assert facts.files == ("rank0.engine", "rank1.engine")
    assert facts.weights_bytes == sum((directory / n).stat().st_size for n in facts.files)
    assert facts.weights_exact is True


def test_minimal_trtllm_engine_fixture_notes_what_it_lacks() -> None:
    facts = inspect_path(MODELS / "llama-3.1-8b-trtllm-engine")
    assert facts.format == "trtllm-engine"
    assert facts.context_length == 8192
    assert facts.family == "llama3.1"
    assert "guessed from the name 'llama-3.1-8b-trtllm-engine'" in facts.origins["family"]
    assert facts.tp_size is None and facts.kv_bytes_per_token is None
    assert "tensor-parallel size unknown: no pretrained_config.mapping.tp_size" in facts.notes
