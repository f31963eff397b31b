"""model.families: which family a model belongs to, from its files first and its name last."""

from __future__ import annotations

import re
from pathlib import Path

import gguf  # a test dependency: its absence must fail, not skip
import pytest

from llmstack.model import families, family_from_name, inspect_path
from tests.model_helpers import EXPECTED, FAMILIES, write_config


def test_every_family_key_has_a_fixture() -> None:
    covered = {expected[0] for expected in EXPECTED.values()}
    # nemotron3: the Nemotron-H fixture with Nemotron 3's real chat template (tests/test_engine_families.py)
    assert set(families.names()) - covered == {"phi", "other", "nemotron3"}


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
    ("Qwen/Qwen3.5-35B-A3B", "qwen3.5"),
    ("Qwen/Qwen3.6-27B", "qwen3.5"),
    ("zai-org/GLM-4.7-Flash", "glm47"),
    ("zai-org/GLM-5.1", "glm5"),
    ("deepseek-ai/DeepSeek-V3.2", "deepseek-v32"),
    ("deepseek-ai/DeepSeek-V4-Flash", "deepseek-v4"),
    ("deepseek-ai/DeepSeek-V4.1-Flash", "deepseek-v41"),
    ("moonshotai/Kimi-K2.5", "kimi-k2"),
    ("moonshotai/Kimi-K3", "kimi-k3"),
    ("MiniMaxAI/MiniMax-M2.7", "minimax-m2"),
    ("MiniMaxAI/MiniMax-M3", "minimax-m3"),
    ("google/gemma-4-31B-it", "gemma4"),
    ("ByteDance-Seed/Seed-OSS-36B-Instruct", "seed-oss"),
    ("stepfun-ai/Step-3.5-Flash", "step3.5"),
    ("baidu/ERNIE-4.5-21B-A3B-PT", "ernie4.5"),
    ("tencent/Hunyuan-A13B-Instruct", "hunyuan-a13b"),
    ("tencent/Hy3-preview", "hy3"),
    ("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "nemotron3"),
    ("nvidia/NVIDIA-Nemotron-Nano-9B-v2", "nemotron-h"),
    ("prod-chat", None),
])
def test_family_from_name(name: str, family: str | None) -> None:
    assert family_from_name(name) == family


# ---------------------------------------------------------------------------------------------
# The family table
# ---------------------------------------------------------------------------------------------

def test_a_family_registered_by_a_test_is_detected_everywhere(tmp_path: Path) -> None:
    """A new family is one entry: its model types (config.json, architectures, GGUF), a variant told
    apart by a template marker, name patterns and traits; nothing else changes."""
    zeta = families.Family("zeta", ("zeta_moe", "zeta"), names=r"zeta[-_. ]?\d", always_reasoning=True)
    zeta_coder = families.Family("zeta-coder", names=r"zeta[-_. ]?\d[-_.]?coder", clues=(
        families.Clue(within=("zeta",), markers=("<zeta_tool>",), why="zeta tool format"),
    ))
    assert family_from_name("org/Zeta-2-Coder") is None and not families.always_reasons("zeta")
    with families.registered(zeta, before="other"), families.registered(zeta_coder, before="zeta"):
        chat = write_config(tmp_path / "chat", {"architectures": ["ZetaMoeForCausalLM"], "model_type": "zeta_moe"},
                            "{{ messages }}")
        assert inspect_path(chat).family == "zeta"
        assert inspect_path(chat).origins["family"] == "config.json: model_type 'zeta_moe'"
        coder = write_config(tmp_path / "coder", {"architectures": ["ZetaForCausalLM"]}, "<zeta_tool>{{ tools }}")
        facts = inspect_path(coder)
        assert facts.family == "zeta-coder"
        assert facts.origins["family"] == ("config.json: architectures[0] 'ZetaForCausalLM' + "
                                           "tokenizer_config.json: chat_template (zeta tool format)")
        path = tmp_path / "zeta.gguf"
        writer = gguf.GGUFWriter(path, "zeta")
        writer.add_context_length(4096)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        assert inspect_path(path).family == "zeta"
        assert family_from_name("org/Zeta-2-Coder") == "zeta-coder" and family_from_name("Zeta-2") == "zeta"
        assert families.always_reasons("zeta") and not families.always_reasons("zeta-coder")
        assert families.names()[-3:] == ("zeta-coder", "zeta", "other")
    assert "zeta" not in families.names() and inspect_path(chat).family == "other"


@pytest.mark.parametrize("entry, message", [
    (families.Family("qwen3"), "a new lowercase name"),
    (families.Family("Bad Name"), "a new lowercase name"),
    (families.Family("dup", ("Qwen3_MoE",)), "model type 'Qwen3_MoE' is listed by qwen3"),
    (families.Family("empty", ("--",)), "model type '--' is empty"),
    (families.Family("lost", clues=(families.Clue(markers=("x",)),)), "a clue within 'lost', which lists no model"),
    (families.Family("stray", clues=(families.Clue(within=("hermes",)),)), "within 'hermes', which lists no model"),
    (families.Family("chooser", ("chooser",), clues=(families.Clue(names=("nope",)),)), "the unknown family 'nope'"),
])
def test_the_table_refuses_a_broken_entry(entry: families.Family, message: str) -> None:
    before = families.names()
    with pytest.raises(ValueError, match=re.escape(message)):
        families.register(entry)
    assert families.names() == before


def test_traits_live_in_the_table() -> None:
    assert {f.name for f in families.table() if f.always_reasoning} == {"gpt-oss", "deepseek-r1", "minimax-m3"}
    assert families.names()[-1] == "other"
    assert not families.always_reasons(None) and not families.always_reasons("no-such-family")
