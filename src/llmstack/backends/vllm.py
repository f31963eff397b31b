"""vLLM: `vllm/vllm-openai:<vX.Y.Z>` (GPU only: there is no CPU build of this image).

The image entrypoint is `vllm serve` (recent) or the api_server module (older); `command:`
therefore carries flags only and passes the model as `--model`, which works with both.
Parser names: the registries of the pinned release (vllm/entrypoints/openai/tool_parsers,
vllm/reasoning), see the README's parser table.
"""

from __future__ import annotations

from llmstack.backends.base import SECRET_FLAG, Backend, BackendArgs, Defaults, DerivedFlag, Features, root_image


class VllmArgs(BackendArgs):
    gpu_memory_utilization: float | None = None


class Vllm(Backend):
    name = "vllm"
    title = "vLLM"
    image_profile = root_image("docker/Dockerfile at v0.12.0; a non-root target came later, vllm-project/vllm#40275")
    defaults = Defaults(image="vllm/vllm-openai", version="v0.12.0", port=8000,
                        args={"gpu_memory_utilization": 0.9, "max_model_len": 32768})
    args_model = VllmArgs
    features = Features(tools="yes", vision="yes")
    formats = frozenset({"hf"})
    auto_for = frozenset({"hf"})
    ipc_host = True
    memory_arg = "gpu_memory_utilization"
    # What `command` writes, in every spelling vLLM 0.12.0 accepts (vllm/engine/arg_utils.py,
    # vllm/entrypoints/openai/cli_args.py; FlexibleArgumentParser in vllm/utils/argparse_utils.py
    # reads `_` as `-` in a flag name, and argparse takes unambiguous prefixes).
    derived_flags = (
        DerivedFlag(("--model",), "model"),
        DerivedFlag(("--served-model-name",), "", "the name the gateway asks for"),
        DerivedFlag(("--host",), "network"),
        DerivedFlag(("--port",), "port"),
        DerivedFlag(("--max-model-len",), "max_model_len"),
        DerivedFlag(("--gpu-memory-utilization",), "args.gpu_memory_utilization"),
        DerivedFlag(("--tensor-parallel-size", "-tp"), "tensor_parallel"),
        DerivedFlag(("--enable-auto-tool-choice",), "tool_parser"),
        DerivedFlag(("--tool-call-parser",), "tool_parser"),
        DerivedFlag(("--reasoning-parser",), "reasoning_parser"),
        DerivedFlag(("--api-key",), "", SECRET_FLAG, secret=True),
    )
    flag_matching = "argparse-dashes"
    # The key: `args.api_key or [envs.VLLM_API_KEY]` (vllm/envs.py, and the app's set-up in
    # vllm/entrypoints/openai/api_server.py at v0.12.0-v0.24.0, serve/middleware/register.py at
    # v0.32.0/v0.33.0). Checked as `Authorization: Bearer` on paths under /v1 only (v0.12.0-v0.18.0;
    # /v1, /v2, /inference from v0.23.0, and /cohere at v0.32.0): /health stays open for the probes,
    # and so do /tokenize, /detokenize, /metrics and /version.
    api_key_env = "VLLM_API_KEY"
    api_key_flag = "--api-key"
    # The registries of v0.12.0 (vllm/entrypoints/openai/tool_parsers/__init__.py and
    # vllm/reasoning/__init__.py in the released wheel): an unknown name stops the server at start.
    tool_parsers = frozenset(
        {
            "deepseek_v3", "deepseek_v31", "ernie45", "glm45", "granite-20b-fc", "granite", "hermes",
            "hunyuan_a13b", "internlm", "jamba", "kimi_k2", "llama3_json", "llama4_json", "llama4_pythonic",
            "longcat", "minimax_m2", "minimax", "mistral", "olmo3", "openai", "phi4_mini_json", "pythonic",
            "qwen3_coder", "qwen3_xml", "seed_oss", "step3", "xlam",
        }
    )
    # What docs/features/tool_calling.md of v0.12.0 recommends per family. No glm47 parser at this
    # pin: GLM-4.7 gets glm45. DeepSeek-R1 needs a chat template of vLLM's examples for tools: none.
    tool_parser_by_family = {
        "qwen3-coder": "qwen3_xml",
        "qwen2": "hermes",
        "qwen3": "hermes",
        "hermes": "hermes",
        "llama4": "llama4_pythonic",
        "llama3.1": "llama3_json",
        "mistral": "mistral",
        "glm45": "glm45",
        "glm47": "glm45",
        "deepseek-v3": "deepseek_v3",
        "deepseek-v31": "deepseek_v31",
        "gpt-oss": "openai",
        "kimi-k2": "kimi_k2",
        "granite": "granite",
    }
    reasoning_parsers = frozenset(
        {"deepseek_r1", "deepseek_v3", "ernie45", "glm45", "openai_gptoss", "granite", "hunyuan_a13b", "kimi_k2",
         "minimax_m2", "minimax_m2_append_think", "mistral", "olmo3", "qwen3", "seed_oss", "step3"}
    )
    # docs/features/reasoning_outputs.md of v0.12.0; gpt-oss needs none (harmony is switched on by
    # model_type). Only for models whose chat template thinks (the `thinking` fact).
    reasoning_parser_by_family = {
        "qwen3": "qwen3",
        "deepseek-r1": "deepseek_r1",
        "deepseek-v31": "deepseek_v3",
        "glm45": "glm45",
        "glm47": "glm45",
        "kimi-k2": "kimi_k2",
        "granite": "granite",
        "mistral": "mistral",
        "gpt-oss": None,
    }
    reasoning_parser_for_think_tags = "deepseek_r1"
    # /v1/messages since v0.11.1, but at v0.12.0 it fails Claude Code's requests: its schema
    # (vllm/entrypoints/anthropic/protocol.py) rejects a `role: system` message inside `messages`
    # and thinking blocks in the history, and its answers carry no thinking blocks. LiteLLM's
    # translation accepts all of that: translated by default.
    messages_since = "v0.11.1"
    anthropic_route = "translated"

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
