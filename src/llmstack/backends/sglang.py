"""SGLang: `lmsysorg/sglang:<vX.Y.Z>`. The image has no entrypoint: the command is complete."""

from __future__ import annotations

from llmstack.backends.base import Backend, BackendArgs, FamilyRule, Features


class SglangArgs(BackendArgs):
    mem_fraction_static: float | None = None


class Sglang(Backend):
    name = "sglang"
    title = "SGLang"
    default_port = 30000
    args_model = SglangArgs
    features = Features(tools="yes", vision="yes")
    ipc_host = True
    ulimits = True
    # SGLang's /health runs a one-token generation once serving: probe it less often.
    health_interval = "10s"
    # SGLang's own parser names (they differ from vLLM's).
    tool_parsers = frozenset(
        {
            "hermes", "llama3", "pythonic", "mistral", "qwen25", "qwen3_coder", "glm45",
            "glm47", "deepseekv3", "deepseekv31", "gpt-oss", "kimi_k2", "step3", "minimax-m2",
        }
    )
    family_rules = (
        FamilyRule(r"qwen3[-_.]?coder", "qwen3_coder"),
        FamilyRule(r"qwen2\.?5|qwen3|qwq", "qwen25"),
        FamilyRule(r"hermes", "hermes"),
        FamilyRule(r"llama[-_.]?4", "pythonic"),
        FamilyRule(r"llama[-_.]?3\.[123]", "llama3"),
        FamilyRule(r"mistral|mixtral|ministral|devstral|magistral", "mistral"),
        FamilyRule(r"glm[-_.]?4\.[567]", "glm45"),
        FamilyRule(r"deepseek[-_.]?v3\.[12]", "deepseekv31"),
        FamilyRule(r"deepseek[-_.]?v3", "deepseekv3"),
        FamilyRule(r"gpt[-_.]?oss", "gpt-oss"),
        FamilyRule(r"kimi[-_.]?k2", "kimi_k2"),
    )

    def command(self, model, host):
        cmd = [
            "python3", "-m", "sglang.launch_server",
            "--model-path", model.model_arg,
            "--served-model-name", model.served_name,
            "--host", host,
            "--port", str(model.port),
        ]
        if model.max_model_len:
            cmd += ["--context-length", str(model.max_model_len)]
        if model.args.get("mem_fraction_static") is not None:
            cmd += ["--mem-fraction-static", str(model.args["mem_fraction_static"])]
        if model.tensor_parallel and model.tensor_parallel > 1:
            cmd += ["--tp-size", str(model.tensor_parallel)]
        if model.tool_parser:
            cmd += ["--tool-call-parser", model.tool_parser]
        return cmd


BACKEND = Sglang()
