"""The committed golden examples under compose/: one per backend and a two-model stack, and the
Kubernetes ones (`<name>-k8s`: kustomize directories) next to them.

CI re-renders each with `--check` (any diff fails); the compose ones pass `docker compose config`,
the Kubernetes ones `kubectl kustomize` and `kubernetes-validate` (tests/test_kubernetes.py).
After an intended change, regenerate them from the repository root with `python -m tests.examples`
and review the diff.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = "./tests/fixtures/models"

# example directory name (compose/<name>) -> `llmstack render` arguments
EXAMPLES: dict[str, list[str]] = {
    "vllm-qwen2-5-7b": ["--model", f"{FIXTURES}/families/Qwen2.5-7B-Instruct", "--gpus", "0,1",
                        "--name", "vllm-qwen2-5-7b"],
    "vllm-qwen3-8b-reasoning": ["--model", f"{FIXTURES}/families/Qwen3-8B", "--gpus", "1", "--gpu-memory", "24",
                                "--name", "vllm-qwen3-8b-reasoning"],
    "sglang-qwen2-5-7b": ["--model", "Qwen/Qwen2.5-7B-Instruct", "--backend", "sglang",
                          "--gpus", "2", "--name", "sglang-qwen2-5-7b"],
    "llama-gpu-gemma3-vision": ["--model", f"{FIXTURES}/gguf/gemma-3-4b-it", "--name", "llama-gpu-gemma3-vision"],
    "llama-cpu-llama-3-1-8b": ["--model", f"{FIXTURES}/gguf/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", "--cpu",
                               "--name", "llama-cpu-llama-3-1-8b"],
    "llama-split-qwen2-5-7b": ["--model",
                               f"{FIXTURES}/gguf/Qwen2.5-7B-Instruct-Q4_K_M/Qwen2.5-7B-Instruct-Q4_K_M-00001-of-00003.gguf",
                               "--gpus", "device=0", "--gpu-memory", "24", "--name", "llama-split-qwen2-5-7b"],
    "trtllm-llama-3-1-8b": ["--model", f"{FIXTURES}/families/Llama-3.1-8B-Instruct-trtllm-engine", "--gpus", "0,1",
                            "--name", "trtllm-llama-3-1-8b"],
    "vllm-host-network": ["--model", "meta-llama/Llama-3.1-8B-Instruct", "--network", "host",
                          "--name", "vllm-host-network"],
    "external-replicas": ["--backend", "external", "--model", "qwen2-5-7b-instruct",
                          "--api-base", "http://gpu-host-1:8000/v1", "--api-base", "http://gpu-host-2:8000/v1",
                          "--api-key-env", "UPSTREAM_API_KEY", "--name", "external-replicas"],
    # A GPU host behind external-replicas' gateway: the backend alone, published on every interface,
    # so it requires a key of its own (LLMSTACK_BACKEND_KEY from .env; resolve/exposure.py).
    "vllm-gpu-host": ["--model", f"{FIXTURES}/families/Qwen2.5-7B-Instruct", "--gpus", "0,1", "--no-litellm",
                      "--bind", "0.0.0.0", "--name", "vllm-gpu-host"],
    "qwen-coder-and-chat": ["qwen-coder-and-chat"],
    # Kubernetes (kustomize directories); the directory is compose/<name>-k8s.
    "vllm-qwen2-5-7b-k8s": ["--model", f"{FIXTURES}/families/Qwen2.5-7B-Instruct", "--gpus", "0,1",
                            "--gpu-memory", "48", "--name", "vllm-qwen2-5-7b", "--target", "kubernetes",
                            "--k8s-model-pvc", "models", "--k8s-gpu-product", "NVIDIA-L40S",
                            "--k8s-runtime-class", "nvidia"],
    "qwen-coder-and-chat-k8s": ["qwen-coder-and-chat", "--target", "kubernetes"],
    "llama-cpu-llama-3-1-8b-k8s": ["--model", f"{FIXTURES}/gguf/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", "--cpu",
                                   "--name", "llama-cpu-llama-3-1-8b", "--target", "kubernetes",
                                   "--k8s-model-host-path", "/data/models"],
    "qwen-chat-replicas-k8s": ["qwen-chat-replicas"],  # target, replicas and kubernetes: keys in models.yaml
    "external-replicas-k8s": ["--backend", "external", "--model", "qwen2-5-7b-instruct",
                              "--api-base", "http://gpu-host-1:8000/v1", "--api-base", "http://gpu-host-2:8000/v1",
                              "--api-key-env", "UPSTREAM_API_KEY", "--name", "external-replicas",
                              "--target", "kubernetes", "--litellm-replicas", "2"],
}

KUBERNETES = [name for name in EXAMPLES if name.endswith("-k8s")]
COMPOSE = [name for name in EXAMPLES if name not in KUBERNETES]


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
