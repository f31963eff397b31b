"""Every option of `llmstack render` and every key of a stack in models.yaml, declared once.

One row per setting: its flag(s), type, help text, its models.yaml key (in a stack model, or in
the stack itself: `network`, `litellm.port`, `kubernetes.namespace`), the target it is for and
what it excludes. Derived from this table, so nothing lists them again:

- the Typer parameters of `render` and their help (cli.py), and the command line the rendered
  header regenerates with;
- `RenderOptions`, what the command line gave (`resolve`), and the flag layer of the one layered
  lookup every value goes through (flag > stack model > stack > models.yaml defaults > built-in);
- the models.yaml schema of a stack (configfile.py), including the keys that have no flag;
- the per-model flags a multi-model stack refuses, the `--k8s-*` flags the compose target refuses;
- the CLI reference in docs/ (`python -m llmstack.docs`).

Light on purpose: `llmstack --help` imports it (no pydantic, no YAML).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from llmstack.backends import module_names
from llmstack.gpu_products import known_names

Scope = Literal["model", "stack", "command"]
Kind = Literal["str", "int", "float", "bool", "switch", "list", "argument"]

# The value type of a models.yaml key whose flag takes a narrower one (configfile builds the schema).
GPUS = str | int | list[int | str] | None


@dataclass(frozen=True)
class Option:
    name: str  # the Typer parameter and RenderOptions name (a key without a flag: its models.yaml key)
    flags: tuple[str, ...]  # ("--model", "-m"); a pair of switches: ("--litellm/--no-litellm",); none: models.yaml only
    kind: Kind = "str"
    help: str = ""
    metavar: str | None = None
    # Its models.yaml key: in a stack model (scope "model"), or in the stack ("stack": `network`,
    # `litellm.port`, `kubernetes.namespace`); scope "command": the command line only.
    key: str | None = None
    scope: Scope = "command"
    schema: Any = None  # the models.yaml value type, when it differs from the flag's
    limits: Mapping[str, float] = field(default_factory=dict)  # ge / le / gt, for the schema
    default: Any = None  # models.yaml only: the schema's default
    required: bool = False  # models.yaml: the key must be there
    target: str | None = None  # only this target uses it
    panel: str | None = None  # help panel
    header: bool = True  # part of the "regenerate with" command line in the rendered header
    excludes: tuple[str, ...] = ()  # options that cannot be given with it

    @property
    def flag(self) -> str:
        """The flag as errors name it: `--model`, `--litellm` (a pair: its first half), `STACK`."""
        if self.kind == "argument":
            return self.metavar or self.name.upper()
        return self.flags[0].split("/")[0] if self.flags else ""

    @property
    def per_model(self) -> bool:
        return self.scope == "model" and bool(self.flags)


def _k8s(name: str, metavar: str, help: str, schema: Any = None) -> Option:
    key = name.removeprefix("k8s_")
    return Option(name, (f"--k8s-{key.replace('_', '-')}",), "str", help, metavar, key=f"kubernetes.{key}",
                  scope="stack", target="kubernetes", panel="Kubernetes", schema=schema)


# The order is the order of `llmstack render --help`.
OPTIONS: tuple[Option, ...] = (
    Option("stack", (), "argument", "A named stack from config/models.yaml (instead of --model).", "STACK"),
    Option("model", ("--model", "-m"), "str",
           "A local model directory, a .gguf file (or one shard of a split set), a Hugging Face cache "
           "snapshot directory (all mounted read-only), or a Hugging Face id org/name "
           "(served through the HF cache). Paths start with /, ./, ../ or ~.",
           "PATH_OR_HF_ID", key="model", scope="model", panel="Model", required=True),
    Option("backend", ("--backend", "-b"), "str",
           "Inference server. auto: a .gguf model (file, split set or directory) -> llama, a "
           "TensorRT-LLM engine directory -> trtllm, --api-base given -> external, anything else -> vllm.",
           "|".join(["auto", *module_names()]), key="backend", scope="model", default="auto"),
    Option("name", ("--name",), "str", "Stack / compose project name [default: slug of the model's name].",
           "NAME", key="name", scope="stack"),
    Option("output", ("--output", "-o"), "str",
           "Output directory [default: compose/<name>, compose/<name>-k8s for --target kubernetes].", "DIR"),
    Option("config", ("--config",), "str",
           "Defaults and stacks [default: ./config/models.yaml, else the built-in one].", "FILE"),
    Option("target", ("--target",), "str",
           "What to render: a Compose directory, or a kustomize directory for `kubectl apply -k` "
           "[default: compose].", "compose|kubernetes", key="target", scope="stack",
           schema=Literal["compose", "kubernetes"] | None),
    Option("litellm", ("--litellm/--no-litellm",), "bool", "Put the LiteLLM gateway in front [default: on].",
           key="litellm.enabled", scope="stack", schema=bool, default=True),
    Option("litellm_port", ("--litellm-port",), "int", "Gateway port on the host [default: 4000].", "N",
           key="litellm.port", scope="stack", limits={"ge": 1, "le": 65535}),
    Option("litellm_alias", ("--litellm-alias",), "str", "Model name clients ask for [default: local-model].",
           "NAME", key="alias", scope="model"),
    Option("litellm_version", ("--litellm-version",), "str", "LiteLLM image tag [default: pinned].", "TAG",
           key="litellm.version", scope="stack"),
    Option("litellm_image", ("--litellm-image",), "str",
           "Full LiteLLM image reference, used as is (e.g. a registry mirror).", "IMAGE:TAG"),
    Option("litellm_workers", ("--litellm-workers",), "int", "LiteLLM worker processes (--num_workers).", "N",
           key="litellm.num_workers", scope="stack", limits={"ge": 1}),
    Option("litellm_cpu_shares", ("--litellm-cpu-shares",), "int",
           "The gateway container's CPU weight against the engine's (Compose cpu_shares; Docker's default is "
           "1024; 0 leaves it unset) [default: 8192].", "N",
           key="litellm.cpu_shares", scope="stack", limits={"ge": 0, "le": 262144}),
    Option("backend_version", ("--backend-version",), "str",
           "Backend version (vLLM/SGLang tag, llama.cpp build bNNNN, TRT-LLM release): its images, flags and parser "
           "names come from the engine catalogue [default: the newest catalogued; see `llmstack versions`].", "TAG",
           key="version", scope="model"),
    Option("backend_image", ("--backend-image",), "str", "Full backend image reference, used as is.", "IMAGE:TAG",
           key="image", scope="model"),
    Option("port", ("--port",), "int", "Port the backend listens on [default: per backend].", "N",
           key="port", scope="model", limits={"ge": 1, "le": 65535}),
    Option("publish_backend", ("--publish-backend/--no-publish-backend",), "bool",
           "Also publish the backend port on --bind [default: off]; beyond loopback the backend then requires "
           "LLMSTACK_BACKEND_KEY from .env.", key="publish_port", scope="model"),
    Option("gpus", ("--gpus",), "str",
           "GPUs to reserve: all, a count N, device ids 0,2 (one id: device=1), or none [default: all].",
           "all|N|0,2|none", key="gpus", scope="model", schema=GPUS),
    Option("cpu", ("--cpu",), "switch",
           "No GPU (same as --gpus none): the backend's CPU image (llama.cpp; vLLM's vllm-openai-cpu; SGLang's -xeon, "
           "for AVX-512/AMX Xeons)."),
    Option("cuda", ("--cuda",), "str",
           "CUDA version of the backend image, e.g. 12 or 13 (an image built for it; the host's driver must run it) "
           "[default: the release's default image, or one this host's driver runs (nvidia-smi)].", "MAJOR[.MINOR]",
           key="cuda", scope="model", schema=str | int | float | None),
    Option("gpu_memory", ("--gpu-memory",), "str",
           "Memory of each GPU, for the memory plan: GiB as nvidia-smi reports it (MiB / 1024; an H100 sold as "
           f"80 GB has 79.6), or a GPU product standing for its nvidia-smi figure: {known_names()} [default: "
           "measured with nvidia-smi on this host, else no plan].",
           "GIB|PRODUCT", key="gpu_memory", scope="model", schema=float | str | None),
    Option("cpu_kv_cache", ("--cpu-kv-cache",), "int",
           "KV cache of a model served on the CPU, in GiB (vLLM: VLLM_CPU_KVCACHE_SPACE); more room serves more "
           "requests at once [default: room for one full-context sequence, from the model].",
           "GIB", key="cpu_kv_cache", scope="model", limits={"ge": 1}),
    Option("tensor_parallel", ("--tensor-parallel",), "int",
           "Tensor-parallel size [default: number of GPUs when countable].", "N",
           key="tensor_parallel", scope="model", limits={"ge": 1}),
    Option("max_model_len", ("--max-model-len",), "int",
           "Context length in tokens [default: the backend default, capped at the model's own limit].", "N",
           key="max_model_len", scope="model", limits={"ge": 1}),
    Option("tool_parser", ("--tool-parser",), "str", "Tool-call parser [default: from the model family when known].",
           "NAME", key="tool_parser", scope="model"),
    Option("reasoning_parser", ("--reasoning-parser",), "str",
           "Reasoning parser, so <think> text becomes reasoning, not answer [default: from the model].", "NAME",
           key="reasoning_parser", scope="model"),
    Option("mmproj", ("--mmproj",), "str", "Vision projector .gguf (llama.cpp only).", "FILE",
           key="mmproj", scope="model"),
    Option("network", ("--network",), "str",
           "bridge: LiteLLM reaches the backend by service name; host: via localhost [default: bridge].",
           "bridge|host", key="network", scope="stack", schema=Literal["bridge", "host"] | None),
    Option("bind", ("--bind",), "str", "Host address for published ports [default: 127.0.0.1].", "ADDR",
           key="bind", scope="stack"),
    Option("extra_arg", ("--extra-arg",), "list",
           "Extra backend argument, appended verbatim (repeatable; use --extra-arg=--flag). A flag llmstack "
           "derives (context, parallelism, parsers, port, ...) is refused, naming the option that sets it.",
           "ARG", key="extra_args", scope="model", default=[]),
    Option("api_base", ("--api-base",), "list",
           "With --backend external: where the model is served, e.g. http://gpu-host-1:8000/v1 (repeat it "
           "for replicas the gateway balances and fails over).", "URL",
           key="api_base", scope="model", schema=str | list[str] | None),
    Option("api_key_env", ("--api-key-env",), "str",
           "With --backend external: the .env variable holding the upstream server's key.", "NAME",
           key="api_key_env", scope="model"),
    Option("replicas", ("--replicas",), "int",
           "Pods serving the model behind its Service (Kubernetes only) [default: 1].", "N",
           key="replicas", scope="model", limits={"ge": 1}, panel="Kubernetes"),
    Option("litellm_replicas", ("--litellm-replicas",), "int",
           "Gateway pods behind its Service (Kubernetes only) [default: 1].", "N",
           key="litellm.replicas", scope="stack", limits={"ge": 1}, panel="Kubernetes"),
    _k8s("k8s_namespace", "NS", "Namespace written into kustomization.yaml [default: none: the one kubectl uses]."),
    _k8s("k8s_model_pvc", "NAME", "Existing PersistentVolumeClaim whose root holds the local model "
                                  "(mounted read-only)."),
    _k8s("k8s_model_host_path", "DIR", "Or: an absolute directory on the GPU nodes holding the local model "
                                       "(hostPath)."),
    _k8s("k8s_hf_cache_pvc", "NAME", "Existing claim for the Hugging Face cache of hub models [default: a rendered "
                                     "ReadWriteOnce claim]."),
    _k8s("k8s_hf_cache_size", "SIZE", "Size of the rendered Hugging Face cache claim [default: 200Gi]."),
    _k8s("k8s_storage_class", "NAME", "StorageClass of the rendered cache claim [default: the cluster's default]."),
    _k8s("k8s_gpu_product", "LABEL", "Schedule GPU pods on nodes labelled nvidia.com/gpu.product=LABEL "
                                     "(e.g. NVIDIA-H100-80GB-HBM3)."),
    _k8s("k8s_runtime_class", "NAME", "runtimeClassName of GPU pods (e.g. nvidia) [default: none: the node's "
                                      "default runtime]."),
    _k8s("k8s_shm_size", "SIZE", "Size limit of each backend pod's memory-backed /dev/shm [default: 16Gi]."),
    _k8s("k8s_backend_cpu", "CPUS", "CPU request and limit of each backend pod (e.g. 8 or 1500m) [default: 2 + 1 "
                                    "per GPU; 4 on the CPU].", schema=str | int | float | None),
    _k8s("k8s_backend_memory", "SIZE", "Memory request and limit of each backend pod (e.g. 64Gi) [default: from "
                                       "the model's size]."),
    _k8s("k8s_litellm_cpu", "CPUS", "CPU request and limit of each gateway pod [default: 1 per worker].",
         schema=str | int | float | None),
    _k8s("k8s_litellm_memory", "SIZE", "Memory request and limit of each gateway pod [default: 256Mi + 512Mi per "
                                       "worker]."),
    Option("anthropic_route", ("--anthropic-route",), "str",
           "How the gateway hands Anthropic /v1/messages requests to the backend: native (its own /v1/messages, "
           "untranslated) or translated (as chat completions) [default: per backend and version: native for llama.cpp "
           "(measured) and SGLang >= 0.5.14 (its schema takes Claude Code's requests), translated elsewhere (vLLM: "
           "until measured on the real server)].", "native|translated",
           key="anthropic_route", scope="model", schema=Literal["native", "translated"] | None),
    Option("responses_route", ("--responses-route",), "str",
           "How the gateway serves OpenAI /v1/responses (Codex): translated (LiteLLM's bridge to the backend's "
           "chat completions, custom tools mapped to function tools) or native (the backend's own /v1/responses) "
           "[default: translated].", "native|translated",
           key="responses_route", scope="model", schema=Literal["native", "translated"] | None),
    Option("check", ("--check",), "switch", "Write nothing; exit 1 listing files that differ from a fresh render.",
           header=False, excludes=("stdout",)),
    Option("stdout", ("--stdout",), "switch",
           "Print the compose file instead of writing the directory (compose only).", header=False),
    Option("force", ("--force",), "switch", "Overwrite rendered files even if they were edited by hand.",
           header=False),
    Option("validate", ("--validate",), "switch",
           "Also run the real `docker compose config --quiet` (Kubernetes: `kubectl kustomize`) on the result "
           "before writing.", header=False),
)

# The keys of a stack in models.yaml that no flag sets.
KEYS: tuple[Option, ...] = (
    Option("service", (), "str", "The backend's service name [default: backend, backend-<alias> with several "
                                 "models].", key="service", scope="model"),
    Option("vision", (), "bool", "Whether the model takes images [default: from the model].",
           key="vision", scope="model"),
    Option("args", (), "str", "Tuning values of the backend (unknown keys are errors).", key="args", scope="model",
           schema=dict[str, Any], default={}),
    Option("adapt", (), "list", "The gateway hook's switches for this model's requests, a list of "
                                "strip_billing_header, fold_system, system_into_user, merge_turns, tool_ids, "
                                "split_tool_calls, or none [default: what the model's chat template needs, checked "
                                "at render].",
           key="adapt", scope="model", schema=list[str] | Literal["none"] | None),
    Option("description", (), "str", "What the stack is for (documentation only).", key="description",
           scope="stack"),
    Option("gpu_memory", (), "float", "Memory of each GPU of the stack's models, for the memory plan: GiB as "
           "nvidia-smi reports it, or a GPU product (see --gpu-memory).",
           key="gpu_memory", scope="stack", schema=float | str | None),
    Option("claude", (), "str", "Claude Code's model tiers (opus, sonnet, haiku, fable) -> an alias of this stack.",
           key="claude", scope="stack", schema=dict[Literal["opus", "sonnet", "haiku", "fable"], str] | None),
    Option("litellm.image", (), "str", "The gateway's image repository (the tag is litellm.version).",
           key="litellm.image", scope="stack"),
    Option("kubernetes.node_selector", (), "str", "Labels GPU nodes must carry.", key="kubernetes.node_selector",
           scope="stack", target="kubernetes", schema=dict[str, str], default={}),
)

BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}


def model_flags() -> list[Option]:
    """Flags that set a stack model's key: ambiguous with a multi-model stack."""
    return [option for option in OPTIONS if option.per_model]


def model_keys() -> list[Option]:
    """Every key of a stack model (`stacks.<name>.models[i].<key>`), flag or not."""
    return [option for option in (*OPTIONS, *KEYS) if option.scope == "model" and option.key]


def stack_keys(section: str = "") -> list[Option]:
    """The keys of a stack itself (section ""), or of its `litellm:` / `kubernetes:` section."""
    prefix = f"{section}." if section else ""
    found = []
    for option in (*OPTIONS, *KEYS):
        if option.scope != "stack" or option.key is None:
            continue
        if (section and option.key.startswith(prefix)) or (not section and "." not in option.key):
            found.append(option)
    return found


def for_target(target: str) -> list[Option]:
    return [option for option in OPTIONS if option.target == target]


def by_key(scope: Scope, key: str) -> Option | None:
    """The flag that sets a models.yaml key, if any."""
    return next((o for o in OPTIONS if o.scope == scope and o.key == key and o.flags), None)


def given(values: Mapping[str, Any], names: Iterable[str] | None = None) -> list[Option]:
    """The options given on the command line (not None, False or empty)."""
    wanted = BY_NAME.values() if names is None else [BY_NAME[name] for name in names]
    return [option for option in wanted if values.get(option.name) not in (None, False, [], ())]


def spelled(option: Option, value: Any) -> str:
    """The flag as the user typed it: the second half of a pair for False (`--no-litellm`)."""
    first, _, second = option.flags[0].partition("/") if option.flags else (option.flag, "", "")
    return second if second and value is False else first or option.flag


@dataclass(frozen=True)
class RenderOptions:
    """What `llmstack render` was given: option name -> value (None, False or [] when not given),
    and the command line that regenerates the directory (rebuilt from the same values)."""

    values: Mapping[str, Any] = field(default_factory=dict)
    regen_command: str = "llmstack render"

    def __post_init__(self) -> None:
        unknown = set(self.values) - set(BY_NAME)
        if unknown:
            raise TypeError(f"unknown render options: {', '.join(sorted(unknown))}")

    def get(self, name: str) -> Any:
        option = BY_NAME[name]
        value = self.values.get(name)
        if value is None:
            return [] if option.kind == "list" else (False if option.kind == "switch" else None)
        return list(value) if option.kind == "list" else value


# ---- checks between options (pip's habit: named checks beside the declarations) -----------------

def excluded_pairs(values: Mapping[str, Any]) -> tuple[Option, Option] | None:
    """The first pair of given options that exclude each other."""
    for option in given(values):
        for other in option.excludes:
            if values.get(other) not in (None, False, [], ()):
                return option, BY_NAME[other]
    return None


def cpu_contradicts_gpus(values: Mapping[str, Any]) -> bool:
    """`--cpu` with a `--gpus` value that reserves GPUs (`none` and 0 agree with it)."""
    gpus = values.get("gpus")
    return bool(values.get("cpu")) and gpus is not None and str(gpus).strip().lower() not in ("none", "0")
