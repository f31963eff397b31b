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
    # 2025-26 families (config.json only: their chat templates are read from llama.cpp's copies at test
    # time, tests/test_engine_families.py)
    "Qwen3.5-35B-A3B": ("qwen3.5", 262144, 16, 2, 40, True, None, None),
    "GLM-4.7-Flash": ("glm47", 202752, 20, 20, 47, False, None, None),
    "GLM-5.1": ("glm5", 202752, 64, 64, 78, False, None, None),
    "DeepSeek-V3.2": ("deepseek-v32", 163840, 128, 128, 61, False, None, None),
    "DeepSeek-V4-Flash": ("deepseek-v4", None, 64, 1, 43, False, None, None),
    "DeepSeek-V4.1-Flash": ("deepseek-v41", None, None, None, None, False, None, None),
    "Kimi-K2.5": ("kimi-k2", 262144, 64, 64, 61, None, None, None),
    "Kimi-K3": ("kimi-k3", None, None, None, None, None, None, None),
    "MiniMax-M2.7": ("minimax-m2", 204800, 48, 8, 62, False, None, None),
    "MiniMax-M3": ("minimax-m3", None, None, None, None, None, None, None),
    "gemma-4-31B-it": ("gemma4", 262144, 32, 16, 60, True, None, None),
    "Seed-OSS-36B-Instruct": ("seed-oss", 524288, 80, 8, 64, False, None, None),
    "Step-3.5-Flash": ("step3.5", None, 64, 64, 45, False, None, None),
    "ERNIE-4.5-21B-A3B-PT": ("ernie4.5", 131072, 20, 4, 28, False, None, None),
    "Hunyuan-A13B-Instruct": ("hunyuan-a13b", None, 32, 8, 32, False, None, None),
    "Hy3": ("hy3", None, None, None, None, False, None, None),
    "Hy4-preview": ("hy4", None, None, None, None, False, None, None),
    "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16": ("nemotron-h", 262144, 32, 2, 52, False, None, None),
}


# Fixtures holding only part of the published config.json (the identity and the fields public copies
# show: tests/fixtures/models/README.md): family and the facts above, but no size estimate.
PARTIAL = {"DeepSeek-V4-Flash", "DeepSeek-V4.1-Flash", "Kimi-K3", "MiniMax-M3", "Hy3", "Hy4-preview",
           "Step-3.5-Flash", "Hunyuan-A13B-Instruct"}


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
