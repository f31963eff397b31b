"""vLLM: `vllm/vllm-openai:<vX.Y.Z>` (GPU only: there is no CPU build of this image).

The image entrypoint is `vllm serve` (recent) or the api_server module (older); `command:`
therefore carries flags only and passes the model as `--model`, which works with both.
Parser names: the registries of the pinned release (vllm/entrypoints/openai/tool_parsers,
vllm/reasoning), see the README's parser table.
"""

from __future__ import annotations

from llmstack.backends.base import Backend, BackendArgs, Defaults, Features


class VllmArgs(BackendArgs):
    gpu_memory_utilization: float | None = None


class Vllm(Backend):
    name = "vllm"
    title = "vLLM"
    defaults = Defaults(image="vllm/vllm-openai", version="v0.12.0", port=8000,
                        args={"gpu_memory_utilization": 0.9, "max_model_len": 32768})
    args_model = VllmArgs
    features = Features(tools="yes", vision="yes")
    formats = frozenset({"hf"})
    auto_for = frozenset({"hf"})
    ipc_host = True
    memory_arg = "gpu_memory_utilization"
    tool_parsers = frozenset(
        {
            "hermes", "llama3_json", "llama4_json", "llama4_pythonic", "pythonic", "mistral",
            "qwen3_coder", "qwen3_xml", "glm45", "glm47", "deepseek_v3", "deepseek_v31",
            "openai", "kimi_k2", "granite", "granite-20b-fc", "internlm", "jamba", "minimax",
            "phi4_mini_json", "xlam", "hunyuan_a13b", "seed_oss", "step3",
        }
    )
    tool_parser_by_family = {
        "qwen3-coder": "qwen3_coder",
        "qwen2": "hermes",
        "qwen3": "hermes",
        "hermes": "hermes",
        "llama4": "llama4_pythonic",
        "llama3.1": "llama3_json",
        "mistral": "mistral",
        "glm45": "glm45",
        "glm47": "glm47",
        "deepseek-v3": "deepseek_v3",
        "deepseek-r1": "deepseek_v3",
        "deepseek-v31": "deepseek_v31",
        "gpt-oss": "openai",
        "kimi-k2": "kimi_k2",
        "granite": "granite",
    }
    reasoning_parsers = frozenset(
        {"deepseek_r1", "deepseek_v3", "qwen3", "glm45", "openai_gptoss", "granite", "mistral",
         "kimi_k2", "hunyuan_a13b", "step3", "seed_oss", "ernie45", "minimax_m2"}
    )
    reasoning_parser_by_family = {
        "qwen3": "qwen3",
        "deepseek-r1": "deepseek_r1",
        "deepseek-v31": "deepseek_v3",
        "glm45": "glm45",
        "glm47": "glm45",
        "gpt-oss": "openai_gptoss",
        "kimi-k2": "kimi_k2",
        "granite": "granite",
        "mistral": "mistral",
    }
    reasoning_parser_for_think_tags = "deepseek_r1"

    def command(self, model, host):
        cmd = [
            "--model", model.model_arg,
            "--served-model-name", model.served_name,
            "--host", host,
            "--port", str(model.port),
        ]
        if model.max_model_len:
            cmd += ["--max-model-len", str(model.max_model_len)]
        if model.args.get("gpu_memory_utilization") is not None:
            cmd += ["--gpu-memory-utilization", str(model.args["gpu_memory_utilization"])]
        if model.tensor_parallel and model.tensor_parallel > 1:
            cmd += ["--tensor-parallel-size", str(model.tensor_parallel)]
        if model.tool_parser:
            cmd += ["--enable-auto-tool-choice", "--tool-call-parser", model.tool_parser]
        if model.reasoning_parser:
            cmd += ["--reasoning-parser", model.reasoning_parser]
        return cmd


BACKEND = Vllm()
