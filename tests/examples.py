"""The committed golden examples under compose/: one per backend and a two-model stack.

CI re-renders each with `--check` (any diff fails). After an intended change, regenerate them
from the repository root with `python -m tests.examples` and review the diff.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = "./tests/fixtures/models"

# example directory name (compose/<name>) -> `llmstack render` arguments
EXAMPLES: dict[str, list[str]] = {
    "vllm-qwen2-5-7b": ["--model", f"{FIXTURES}/Qwen2.5-7B-Instruct", "--gpus", "0,1",
                        "--name", "vllm-qwen2-5-7b"],
    "sglang-qwen2-5-7b": ["--model", "Qwen/Qwen2.5-7B-Instruct", "--backend", "sglang",
                          "--gpus", "2", "--name", "sglang-qwen2-5-7b"],
    "llama-gpu-llava": ["--model", f"{FIXTURES}/llava-gguf/llava-v1.6-mistral-7b.Q4_K_M.gguf",
                        "--mmproj", f"{FIXTURES}/llava-gguf/mmproj-model-f16.gguf",
                        "--name", "llama-gpu-llava"],
    "llama-cpu-tiny": ["--model", f"{FIXTURES}/tiny/tinyllama-q8_0.gguf", "--cpu",
                       "--name", "llama-cpu-tiny"],
    "trtllm-llama-3-1-8b": ["--model", f"{FIXTURES}/llama-3.1-8b-trtllm-engine", "--gpus", "1",
                            "--name", "trtllm-llama-3-1-8b"],
    "vllm-host-network": ["--model", "meta-llama/Llama-3.1-8B-Instruct", "--network", "host",
                          "--name", "vllm-host-network"],
    "qwen-coder-and-chat": ["qwen-coder-and-chat"],
}


def render_args(name: str) -> list[str]:
    return ["render", *EXAMPLES[name]]


def main() -> int:
    import os

    from llmstack.cli import app

    os.chdir(REPO)
    for name in EXAMPLES:
        code = app(args=render_args(name) + ["--force"], prog_name="llmstack", standalone_mode=False)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
