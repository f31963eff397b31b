"""vLLM: `vllm/vllm-openai:<vX.Y.Z>` (CUDA), `vllm/vllm-openai-cpu:<vX.Y.Z>-x86_64` (CPU).

The image entrypoint is `vllm serve` (recent) or the api_server module (older); `command:`
therefore carries flags only and passes the model as `--model`, which works with both.
Images, flags and parser names per version: the engine catalogue (catalog/data/vllm/), read
through `facts(version)`; which parser a family gets: catalog/families.py.
"""

from __future__ import annotations

from llmstack import catalog
from llmstack.backends.base import Backend, BackendArgs, Defaults, DerivedFlag, Features, root_image


class VllmArgs(BackendArgs):
    gpu_memory_utilization: float | None = None


class Vllm(Backend):
    name = "vllm"
    title = "vLLM"
    image_profile = root_image("docker/Dockerfile at v0.12.0; a non-root target came later, vllm-project/vllm#40275")
    # The pin: the newest catalogued release (`llmstack versions` lists the others).
    defaults = Defaults(image="vllm/vllm-openai", version=catalog.versions("vllm")[-1], port=8000,
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
    )
    flag_matching = "argparse-dashes"
    # /v1/messages since v0.11.1; the catalogue reads from each release's schema whether it takes
    # Claude Code's requests (role system inside messages: from v0.23.0). Whether the native route
    # beats LiteLLM's translation is decided by measurement on the real vLLM server (branch
    # vllmcpu, benchmarks/RESULTS.md): until it is, translated at every version, as before.
    # The measurement sets this one row.
    messages_since = "v0.11.1"
    anthropic_routes = (("v0.11.1", "translated", "native vs translated not yet measured on the real vLLM server"),)

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
