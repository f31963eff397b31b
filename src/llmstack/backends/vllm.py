"""vLLM: `vllm/vllm-openai:<vX.Y.Z>`.

The image entrypoint is `vllm serve` (recent) or the api_server module (older); `command:`
therefore carries flags only and passes the model as `--model`, which works with both.
"""

from __future__ import annotations

from llmstack.backends.base import Backend, BackendArgs, FamilyRule, Features


class VllmArgs(BackendArgs):
    gpu_memory_utilization: float | None = None


class Vllm(Backend):
    name = "vllm"
    title = "vLLM"
    default_port = 8000
    args_model = VllmArgs
    features = Features(tools="yes", vision="yes")
    ipc_host = True
    tool_parsers = frozenset(
        {
            "hermes", "llama3_json", "llama4_json", "llama4_pythonic", "pythonic", "mistral",
            "qwen3_coder", "qwen3_xml", "glm45", "glm47", "deepseek_v3", "deepseek_v31",
            "openai", "kimi_k2", "granite", "granite-20b-fc", "internlm", "jamba", "minimax",
            "phi4_mini_json", "xlam", "hunyuan_a13b", "seed_oss", "step3",
        }
    )
    family_rules = (
        FamilyRule(r"qwen3[-_.]?coder", "qwen3_coder"),
        FamilyRule(r"qwen2\.?5|qwen3|qwq|hermes", "hermes"),
        FamilyRule(r"llama[-_.]?4", "llama4_pythonic"),
        FamilyRule(r"llama[-_.]?3\.[123]", "llama3_json"),
        FamilyRule(r"mistral|mixtral|ministral|devstral|magistral", "mistral"),
        FamilyRule(r"glm[-_.]?4\.7", "glm47"),
        FamilyRule(r"glm[-_.]?4\.[56]", "glm45"),
        FamilyRule(r"deepseek[-_.]?v3\.[12]", "deepseek_v31"),
        FamilyRule(r"deepseek[-_.]?v3", "deepseek_v3"),
        FamilyRule(r"gpt[-_.]?oss", "openai"),
        FamilyRule(r"kimi[-_.]?k2", "kimi_k2"),
        FamilyRule(r"granite", "granite"),
    )

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
        return cmd


BACKEND = Vllm()
