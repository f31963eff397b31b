"""SGLang: `lmsysorg/sglang:<vX.Y.Z>` (CUDA), `lmsysorg/sglang:<vX.Y.Z>-xeon` (CPU: AVX-512/AMX Xeons).
The image has no entrypoint: the command is complete.

Parser names are SGLang's own (they differ from vLLM's): the registries of each catalogued release
(catalog/data/sglang/), read through `facts(version)`; which a family gets: catalog/families.py.
"""

from __future__ import annotations

from llmstack import catalog
from llmstack.backends.base import (
    SECRET_FLAG,
    STREAM_INTERVAL,
    Backend,
    Defaults,
    DerivedFlag,
    Features,
    StreamArgs,
    key_launcher,
    root_image,
    stream_interval_args,
)
from llmstack.paths import BACKEND_KEY


class SglangArgs(StreamArgs):
    mem_fraction_static: float | None = None


class Sglang(Backend):
    name = "sglang"
    title = "SGLang"
    image_profile = root_image("docker/Dockerfile, sglang installed editable in /sgl-workspace")
    defaults = Defaults(image="lmsysorg/sglang", version=catalog.versions("sglang")[-1], port=30000,
                        args={"mem_fraction_static": 0.85, "max_model_len": 32768,
                              "stream_interval": STREAM_INTERVAL})
    args_model = SglangArgs
    features = Features(tools="yes", vision="yes")
    formats = frozenset({"hf"})
    ipc_host = True
    ulimits = True
    memory_arg = "mem_fraction_static"
    # What `command` writes, in every spelling SGLang accepts (sglang/srt/server_args.py,
    # plain argparse: unambiguous prefixes too).
    derived_flags = (
        DerivedFlag(("--model-path", "--model"), "model"),
        DerivedFlag(("--served-model-name",), "", "the name the gateway asks for"),
        DerivedFlag(("--host",), "network"),
        DerivedFlag(("--port",), "port"),
        DerivedFlag(("--context-length",), "max_model_len"),
        DerivedFlag(("--mem-fraction-static",), "args.mem_fraction_static"),
        DerivedFlag(("--tp-size", "--tensor-parallel-size"), "tensor_parallel"),
        DerivedFlag(("--tool-call-parser",), "tool_parser"),
        DerivedFlag(("--reasoning-parser",), "reasoning_parser"),
        # First token at once, then every N (scheduler_output_processor_mixin.py at v0.5.6/v0.5.9,
        # scheduler_components/output_streamer.py at v0.5.23).
        DerivedFlag(("--stream-interval",), "args.stream_interval"),
        DerivedFlag(("--api-key",), "", SECRET_FLAG, secret=True),
    )
    flag_matching = "argparse"
    # The key: `--api-key` only, no environment variable (sglang/srt/server_args.py at v0.5.6, the
    # arg_groups of v0.5.23; sglang/srt/environ.py has none): a launcher adds the flag from the
    # container's environment (key_launcher). Checked as `Authorization: Bearer` on every path but
    # /health* and /metrics (v0.5.6 utils/common.py add_api_key_middleware; /ready* too at v0.5.23,
    # utils/auth.py): the probes need no key.
    api_key_flag = "--api-key"
    program_words = 3  # python3 -m sglang.launch_server
    # SGLang's /health runs a one-token generation once serving: probe it less often.
    health_interval = "10s"
    # /v1/messages since v0.5.9 (sgl-project/sglang#18630); the catalogue reads from each release's
    # schema whether it takes Claude Code's requests (role system inside messages: from v0.5.14).
    # Native where it does: SGLang answers Anthropic requests itself, without LiteLLM's translation.
    messages_since = "v0.5.9"
    anthropic_routes = (("v0.5.9", "catalogue", "its /v1/messages takes Claude Code's requests, role system "
                                                "inside messages and thinking blocks, by the catalogue's reading "
                                                "of its schema"),)

    def key_variable(self):
        return BACKEND_KEY  # read by the launcher

    def command(self, model, host):
        launch = (key_launcher("sglang.launch_server", "--api-key", BACKEND_KEY) if model.backend_key
                  else ["python3", "-m", "sglang.launch_server"])
        cmd = [
            *launch,
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
        if model.reasoning_parser:
            cmd += ["--reasoning-parser", model.reasoning_parser]
        return cmd + stream_interval_args(model)


BACKEND = Sglang()
