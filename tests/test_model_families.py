"""model.families: which family a model belongs to, from its files first and its name last."""

from __future__ import annotations

from pathlib import Path

import gguf  # a test dependency: its absence must fail, not skip
import pytest

from llmstack.model import FAMILIES as FAMILY_NAMES
from llmstack.model import family_from_name, inspect_path
from tests.model_helpers import EXPECTED, FAMILIES, write_config


def test_every_family_key_has_a_fixture() -> None:
    covered = {expected[0] for expected in EXPECTED.values()}
    assert set(FAMILY_NAMES) - covered == {"phi", "other"}


def test_neutral_name_takes_the_family_from_config_json() -> None:
    facts = inspect_path(FAMILIES / "prod-chat")
    assert facts.family == "qwen2"
    assert facts.origins["family"] == "config.json: model_type 'qwen2'"
    assert facts.name == "prod-chat"


def test_template_hints_behind_the_family() -> None:
    assert "<function=" in inspect_path(FAMILIES / "Qwen3-Coder-30B-A3B-Instruct").origins["family"]
    assert "rope_scaling.rope_type 'llama3'" in inspect_path(FAMILIES / "Llama-3.1-8B-Instruct").origins["family"]
    llama3 = inspect_path(FAMILIES / "Meta-Llama-3-8B-Instruct")
    assert "no llama3 rope scaling" in llama3.origins["family"]
    qwq = inspect_path(FAMILIES / "QwQ-32B")
    assert qwq.origins["thinking"] == "tokenizer_config.json: chat_template (handles <think>)"
    gpt_oss = inspect_path(FAMILIES / "gpt-oss-20b")
    assert gpt_oss.origins["thinking"] == "chat_template.jinja (harmony analysis channel)"
    vl = inspect_path(FAMILIES / "Qwen2.5-VL-7B-Instruct")
    assert vl.origins["vision"] == "config.json: vision_config"
    assert vl.origins["thinking"].startswith("chat_template.json")


def test_llama2_chat_format_is_not_mistral(tmp_path: Path) -> None:
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 32000,
              "max_position_embeddings": 4096, "num_attention_heads": 32, "num_hidden_layers": 32, "hidden_size": 4096}
    template = "{{ bos_token + '[INST] <<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' }}"
    facts = inspect_path(write_config(tmp_path / "my-model", config, template))
    assert facts.family == "other"


def test_hermes_on_mistral(tmp_path: Path) -> None:
    config = {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "vocab_size": 32032}
    template = "{{ '<|im_start|>system\\n<tools>' }}{{ tools | tojson }}{{ '</tools> <tool_call>' }}"
    facts = inspect_path(write_config(tmp_path / "m", config, template))
    assert facts.family == "hermes"


def test_kimi_gguf_with_deepseek2_architecture(tmp_path: Path) -> None:
    path = tmp_path / "Kimi-K2-Instruct-Q2_K.gguf"
    writer = gguf.GGUFWriter(path, "deepseek2")
    writer.add_block_count(61)
    writer.add_context_length(131072)
    writer.add_head_count(64)
    writer.add_uint32("deepseek2.attention.kv_lora_rank", 512)
    writer.add_rope_dimension_count(64)
    writer.add_file_type(10)
    writer.add_chat_template((FAMILIES / "Kimi-K2-Instruct" / "tokenizer_config.json").read_text())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    facts = inspect_path(path)
    assert facts.family == "kimi-k2"
    assert facts.kv_bytes_per_token == 61 * (512 + 64) * 2
    assert facts.dtype == "Q2_K"


@pytest.mark.parametrize("name, family", [
    ("Qwen/Qwen2.5-7B-Instruct", "qwen2"),
    ("Qwen/QwQ-32B", "qwen2"),
    ("Qwen/Qwen3-8B", "qwen3"),
    ("Qwen/Qwen3-Coder-30B-A3B-Instruct", "qwen3-coder"),
    ("meta-llama/Meta-Llama-3-8B-Instruct", "llama3"),
    ("meta-llama/Llama-3.1-8B-Instruct", "llama3.1"),
    ("meta-llama/Llama-3.3-70B-Instruct", "llama3.1"),
    ("meta-llama/Llama-4-Scout-17B-16E-Instruct", "llama4"),
    ("mistralai/Mistral-7B-Instruct-v0.3", "mistral"),
    ("zai-org/GLM-4.5-Air", "glm45"),
    ("zai-org/GLM-4.7", "glm47"),
    ("deepseek-ai/DeepSeek-V3", "deepseek-v3"),
    ("deepseek-ai/DeepSeek-V3.1", "deepseek-v31"),
    ("deepseek-ai/DeepSeek-R1", "deepseek-r1"),
    ("deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "deepseek-r1"),
    ("openai/gpt-oss-20b", "gpt-oss"),
    ("moonshotai/Kimi-K2-Instruct", "kimi-k2"),
    ("ibm-granite/granite-3.3-8b-instruct", "granite"),
    ("NousResearch/Hermes-3-Llama-3.1-8B", "hermes"),
    ("google/gemma-3-27b-it", "gemma3"),
    ("microsoft/Phi-4-mini-instruct", "phi"),
    ("prod-chat", None),
])
def test_family_from_name(name: str, family: str | None) -> None:
    assert family_from_name(name) == family
