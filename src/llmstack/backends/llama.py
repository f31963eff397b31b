"""llama.cpp server: `ghcr.io/ggml-org/llama.cpp:server-cuda-b<N>` (CPU: `server-b<N>`).

Entrypoint `/app/llama-server`; `command:` holds arguments only. The image ships curl but no
python or wget, and its built-in HEALTHCHECK probes port 8080, so the rendered healthcheck
replaces it. Tool calling comes from the model's chat template (`--jinja`), not a parser.
"""

from __future__ import annotations

from llmstack.backends.base import Backend, BackendArgs, Features


class LlamaArgs(BackendArgs):
    n_gpu_layers: int | str | None = None
    parallel: int | None = None


class Llama(Backend):
    name = "llama"
    title = "llama.cpp"
    default_port = 8080
    args_model = LlamaArgs
    accepts_gguf = True
    features = Features(tools="partial", vision="yes (with --mmproj)")

    def image(self, repository, version, gpu):
        return f"{repository}:server-cuda-{version}" if gpu else f"{repository}:server-{version}"

    def command(self, model, host):
        cmd = [
            "-m", model.model_arg,
            "--alias", model.served_name,
            "--host", host,
            "--port", str(model.port),
        ]
        if model.max_model_len:
            cmd += ["-c", str(model.max_model_len)]
        if model.gpus.enabled:
            cmd += ["-ngl", str(model.args.get("n_gpu_layers") or 999)]
        if model.args.get("parallel"):
            cmd += ["-np", str(model.args["parallel"])]
        if model.mmproj is not None:
            cmd += ["--mmproj", model.mmproj.container_path]
        # Chat templates and tool calling; the default in newer builds, required in older ones.
        cmd += ["--jinja"]
        return cmd


BACKEND = Llama()
