"""What the model tests share: fixture paths, the family fixtures' expected facts, small writers."""

from __future__ import annotations

import json
from pathlib import Path

from llmstack.errors import ModelFileError

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MODELS = FIXTURES / "models"
FAMILIES = MODELS / "families"
GGUF_DIR = MODELS / "gguf"

# directory -> (family, context, heads, kv heads, layers, vision, thinking, tool template)
EXPECTED = {
    "Qwen2.5-7B-Instruct": ("qwen2", 32768, 28, 4, 28, False, False, True),
    "prod-chat": ("qwen2", 32768, 28, 4, 28, False, False, True),
    "QwQ-32B": ("qwen2", 131072, 40, 8, 64, False, True, True),
    "Qwen3-8B": ("qwen3", 40960, 32, 8, 36, False, True, True),
    "Qwen3-Coder-30B-A3B-Instruct": ("qwen3-coder", 262144, 32, 4, 48, False, False, True),
    "Meta-Llama-3-8B-Instruct": ("llama3", 8192, 32, 8, 32, False, False, False),
    "Llama-3.1-8B-Instruct": ("llama3.1", 131072, 32, 8, 32, False, False, True),
    "Llama-3.1-70B-Instruct": ("llama3.1", 131072, 64, 8, 80, False, None, None),
    "Llama-4-Scout-17B-16E-Instruct": ("llama4", 10485760, 40, 8, 48, True, False, True),
    "Mistral-7B-Instruct-v0.3": ("mistral", 32768, 32, 8, 32, False, False, True),
    "GLM-4.5-Air": ("glm45", 131072, 96, 8, 46, False, True, True),
    "GLM-4.7": ("glm47", 202752, 96, 8, 92, False, True, True),
    "DeepSeek-V3": ("deepseek-v3", 163840, 128, 128, 61, False, False, True),
    "DeepSeek-V3.1": ("deepseek-v31", 163840, 128, 128, 61, False, True, True),
    "DeepSeek-R1": ("deepseek-r1", 163840, 128, 128, 61, False, True, True),
    "DeepSeek-R1-Distill-Qwen-7B": ("deepseek-r1", 131072, 28, 4, 28, False, True, True),
    "gpt-oss-20b": ("gpt-oss", 131072, 64, 8, 24, False, True, True),
    "Kimi-K2-Instruct": ("kimi-k2", 131072, 64, 64, 61, False, False, True),
    "granite-3.3-8b-instruct": ("granite", 131072, 32, 8, 40, False, True, True),
    "Hermes-3-Llama-3.1-8B": ("hermes", 131072, 32, 8, 32, False, False, True),
    "gemma-3-27b-it": ("gemma3", 131072, 32, 16, 62, True, False, False),
    "Qwen2.5-VL-7B-Instruct": ("qwen2", 128000, 28, 4, 28, True, False, False),
}


def one_line_naming(error: ModelFileError, path: Path) -> None:
    message = str(error)
    assert "\n" not in message
    assert str(path) in message
    assert error.exit_code == 2


def write_config(directory: Path, config: dict, template: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "tokenizer_config.json").write_text(json.dumps({"chat_template": template}))
    return directory
