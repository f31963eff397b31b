"""Turn CLI options + a stack + defaults into a validated StackSpec.

Precedence for every value: CLI flag > stack > defaults. This is the only place that looks at
the host (does the model path exist, what does a model directory hold); rendering is pure.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from llmstack import __version__, backends
from llmstack.configfile import Config, Stack, StackModel
from llmstack.errors import LlmstackError
from llmstack.model import ALIAS_RE, SERVICE_RE, GpuSpec, LitellmSpec, ModelSpec, Mount, StackSpec

HUB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
# Per-model CLI flags: with a multi-model stack they are ambiguous and refused.
MODEL_FLAGS = {
    "model": "--model", "backend": "--backend", "backend_version": "--backend-version",
    "backend_image": "--backend-image", "port": "--port", "gpus": "--gpus", "cpu": "--cpu",
    "tensor_parallel": "--tensor-parallel", "max_model_len": "--max-model-len",
    "tool_parser": "--tool-parser", "mmproj": "--mmproj", "extra_args": "--extra-arg",
    "litellm_alias": "--litellm-alias", "publish_backend": "--publish-backend",
}


@dataclass
class RenderOptions:
    """Everything `llmstack render` accepts; None means "not given on the command line"."""

    stack: str | None = None
    model: str | None = None
    backend: str | None = None
    name: str | None = None
    output: str | None = None
    config: str | None = None
    litellm: bool | None = None
    litellm_port: int | None = None
    litellm_alias: str | None = None
    litellm_version: str | None = None
    litellm_image: str | None = None
    litellm_workers: int | None = None
    backend_version: str | None = None
    backend_image: str | None = None
    port: int | None = None
    publish_backend: bool | None = None
    gpus: str | None = None
    cpu: bool = False
    tensor_parallel: int | None = None
    max_model_len: int | None = None
    tool_parser: str | None = None
    mmproj: str | None = None
    network: str | None = None
    bind: str | None = None
    extra_args: list[str] = field(default_factory=list)
    regen_command: str = "llmstack render"


def slugify(text: str) -> str:
    """A compose-safe name: lowercase letters, digits, `-` and `_`."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    return re.sub(r"-{2,}", "-", slug) or "model"


def _first(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


def looks_like_path(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~")) or text.lower().endswith(".gguf")


def _check_port(value: int, flag: str) -> int:
    if not 1 <= value <= 65535:
        raise LlmstackError(f"{flag} {value}: a port must be between 1 and 65535")
    return value


def _ggufs(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix.lower() == ".gguf" and p.is_file())


def _is_trtllm_engine(directory: Path) -> bool:
    if any(directory.glob("*.engine")):
        return True
    config = directory / "config.json"
    if config.is_file():
        try:
            text = config.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
        return '"build_config"' in text and '"pretrained_config"' in text
    return False


def _host_path(path: Path, given: str, output_dir: Path) -> str:
    """The path as written into the compose file.

    Absolute and `~` inputs (or an absolute --output) give absolute paths; a relative path
    with a relative output directory becomes relative to the output directory (Compose resolves relative bind sources against the compose file's directory),
    so a committed stack keeps working wherever the repository is checked out.
    """
    if given.startswith("~") or os.path.isabs(given) or output_dir.is_absolute():
        return str(path)
    rel = os.path.relpath(path, output_dir.resolve())
    return rel if rel.startswith("..") else f"./{rel}"


def _variable(name: str, host_path: str) -> str | None:
    """A `}` would end `${VAR:-default}` early: such a path is written literally instead."""
    return None if "}" in host_path else name


@dataclass
class _Source:
    display_name: str
    hub_id: str | None = None
    path: Path | None = None  # resolved host path
    is_file: bool = False
    gguf: Path | None = None  # the .gguf file to serve (llama)


def _unprintable(ch: str) -> bool:
    """Characters YAML cannot carry (and that make no sense in a path or a flag)."""
    code = ord(ch)
    return code < 32 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF)


def _no_control_chars(text: str, flag: str) -> None:
    if any(_unprintable(ch) for ch in text):
        raise LlmstackError(
            f"{flag} {text!r}: control characters (newline, tab, ...) are not supported; remove them or rename the file"
        )


def _check_printable(opts: RenderOptions) -> None:
    for item in fields(opts):
        value = getattr(opts, item.name)
        flag = "STACK" if item.name == "stack" else "--" + item.name.replace("_", "-")
        flag = flag.replace("--extra-args", "--extra-arg")
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and item.name != "regen_command":
                _no_control_chars(text, flag)


def _classify(model: str, flag: str) -> _Source:
    _no_control_chars(model, flag)
    if looks_like_path(model):
        path = Path(model).expanduser()
        if not path.exists():
            raise LlmstackError(
                f"{flag} {model}: no such file or directory on this host; "
                "check the path (local models are mounted read-only) or pass a Hugging Face id like org/name"
            )
        path = path.resolve()
        if path.is_dir():
            ggufs = _ggufs(path)
            return _Source(display_name=path.name, path=path, is_file=False,
                           gguf=ggufs[0] if len(ggufs) == 1 else None)
        return _Source(display_name=path.name, path=path, is_file=True,
                       gguf=path if path.suffix.lower() == ".gguf" else None)
    if HUB_ID_RE.match(model):
        return _Source(display_name=model.split("/", 1)[1], hub_id=model)
    raise LlmstackError(
        f"{flag} {model!r}: neither a local path (start it with /, ./, ../ or ~) "
        "nor a Hugging Face model id of the form org/name"
    )


def _choose_backend(requested: str, source: _Source, flag: str, given: str) -> str:
    known = backends.names()
    if requested != "auto" and requested not in known:
        raise LlmstackError(
            f"--backend {requested}: unknown backend; choose one of auto, {', '.join(known)}"
        )
    if requested == "auto":
        if source.gguf is not None:
            return "llama"
        if source.path is not None and source.path.is_dir():
            count = len(_ggufs(source.path))
            if count > 1:
                raise LlmstackError(
                    f"{flag} {given}: the directory holds {count} .gguf files; "
                    "pass the one to serve as --model DIR/FILE.gguf"
                )
            if _is_trtllm_engine(source.path):
                return "trtllm"
        return "vllm"
    backend = backends.get(requested)
    if source.is_file and source.gguf is not None and not backend.accepts_gguf:
        raise LlmstackError(
            f"{flag} {given}: a .gguf model cannot be served by {backend.title}; "
            "use --backend llama (or auto)"
        )
    if backend.accepts_gguf and source.gguf is None:
        what = "a Hugging Face id" if source.hub_id else "no single .gguf file"
        raise LlmstackError(
            f"{flag} {given}: {backend.title} serves a local .gguf file, but this is {what}; "
            "pass --model /path/to/model.gguf or choose another --backend"
        )
    return requested


def _merged_models(opts: RenderOptions, stack: Stack | None) -> list[StackModel]:
    if stack is None:
        if opts.model is None:
            raise LlmstackError(
                "nothing to render: pass --model PATH_OR_HF_ID, or a stack name from config/models.yaml"
            )
        return [StackModel(model=opts.model)]
    if len(stack.models) > 1:
        used = [flag for attr, flag in MODEL_FLAGS.items()
                if getattr(opts, attr) not in (None, False, [])]
        if used:
            raise LlmstackError(
                f"{used[0]}: stack {opts.stack!r} serves {len(stack.models)} models, so per-model "
                "flags are ambiguous; set the value on the model in config/models.yaml"
            )
    return list(stack.models)


def resolve(opts: RenderOptions, config: Config) -> tuple[StackSpec, Path]:
    """Validate everything and return the stack with its output directory."""
    _check_printable(opts)
    stack: Stack | None = None
    if opts.stack is not None:
        if opts.stack not in config.stacks:
            known = ", ".join(sorted(config.stacks)) or "none defined"
            raise LlmstackError(
                f"stack {opts.stack!r} is not defined in {config.path} (stacks: {known}); "
                "add it under `stacks:` or pass --model instead"
            )
        stack = config.stacks[opts.stack]
    entries = _merged_models(opts, stack)
    single = len(entries) == 1

    network = _first(opts.network, stack.network if stack else None, "bridge")
    if network not in ("bridge", "host"):
        raise LlmstackError(f"--network {network}: choose bridge (default) or host")
    bind = _first(opts.bind, stack.bind if stack else None, "127.0.0.1")
    try:
        ipaddress.ip_address(bind)
    except ValueError:
        raise LlmstackError(
            f"--bind {bind}: not an IP address; use 127.0.0.1 (this host only) or 0.0.0.0 (all interfaces)"
        ) from None

    # Name and output directory come first: relative model paths are written relative to it.
    first_source = None
    if single:
        first_model = opts.model if opts.model is not None else entries[0].model
        first_source = _classify(first_model, "--model" if opts.model else "model")
    default_name = (stack.name if stack and stack.name else opts.stack) if stack else None
    if default_name is None and first_source is not None:
        default_name = slugify(first_source.display_name.removesuffix(".gguf"))
    name = _first(opts.name, default_name)
    if not SERVICE_RE.match(name):
        raise LlmstackError(
            f"--name {name!r}: use lowercase letters, digits, '-' and '_' (e.g. {slugify(name)!r})"
        )
    output_dir = Path(opts.output) if opts.output else Path("compose") / name

    litellm_cfg = stack.litellm if stack else None
    litellm_enabled = _first(opts.litellm, litellm_cfg.enabled if litellm_cfg else None, True)
    litellm: LitellmSpec | None = None
    if litellm_enabled:
        d = config.litellm
        version = _first(opts.litellm_version, litellm_cfg.version if litellm_cfg else None, d.version)
        repository = _first(litellm_cfg.image if litellm_cfg else None, d.image)
        workers = _first(opts.litellm_workers, litellm_cfg.num_workers if litellm_cfg else None,
                         d.num_workers)
        if workers is not None and workers < 1:
            raise LlmstackError(f"--litellm-workers {workers}: must be 1 or more")
        litellm = LitellmSpec(
            image=opts.litellm_image or f"{repository}:{version}",
            port=_check_port(
                _first(opts.litellm_port, litellm_cfg.port if litellm_cfg else None, d.port),
                "--litellm-port",
            ),
            num_workers=workers,
        )

    models: list[ModelSpec] = []
    for index, entry in enumerate(entries):
        models.append(_resolve_model(opts, config, entry, index, single, network, output_dir,
                                     first_source if index == 0 else None))

    _check_uniqueness(models, litellm, network)
    spec = StackSpec(
        name=name,
        models=tuple(models),
        litellm=litellm,
        network=network,
        bind=bind,
        regen_command=opts.regen_command,
        llmstack_version=__version__,
    )
    return spec, output_dir


def _resolve_model(opts: RenderOptions, config: Config, entry: StackModel, index: int,
                   single: bool, network: str, output_dir: Path,
                   source: _Source | None) -> ModelSpec:
    cli = opts if single else RenderOptions()  # per-model CLI flags only apply to one model
    model_text = _first(cli.model, entry.model)
    flag = "--model" if cli.model else f"models[{index}].model"
    if source is None:
        source = _classify(model_text, flag)
    backend_name = _choose_backend(_first(cli.backend, entry.backend, "auto"), source, flag, model_text)
    backend = backends.get(backend_name)
    defaults = config.backend_defaults[backend_name]

    args = backend.args_model.model_validate({**defaults.args, **entry.args}).model_dump(exclude_none=True)

    # GPUs and tensor parallelism.
    if cli.cpu and cli.gpus is not None and cli.gpus.strip().lower() != "none":
        raise LlmstackError(f"--cpu and --gpus {cli.gpus} contradict each other; pass one of them")
    gpu_text = "none" if cli.cpu else _first(cli.gpus, entry.gpus, "all")
    try:
        gpus = GpuSpec.parse(gpu_text)
    except ValueError:
        raise LlmstackError(
            f"--gpus {gpu_text}: use all, a count (2), device ids (0,2 or device=1) or none"
        ) from None
    tp = _first(cli.tensor_parallel, entry.tensor_parallel)
    countable = gpus.countable
    if tp is not None:
        if tp < 1:
            raise LlmstackError(f"--tensor-parallel {tp}: must be 1 or more")
        if countable is not None and tp > max(countable, 1):
            raise LlmstackError(
                f"--tensor-parallel {tp} is larger than the {countable} GPU(s) requested with "
                f"--gpus {gpus.describe()}; request more GPUs or lower --tensor-parallel"
            )
        if backend_name == "llama" and tp > 1:
            raise LlmstackError(
                "--tensor-parallel: llama.cpp splits layers over all reserved GPUs by itself; drop the flag"
            )
    elif countable and countable > 1 and backend_name != "llama":
        tp = countable

    default_len = args.pop("max_model_len", None)
    if backend_name == "trtllm" and source.path is not None and _is_trtllm_engine(source.path):
        # A built engine has its backend and sequence length baked in.
        default_len = None
        if "backend" not in entry.args:
            args["backend"] = "tensorrt"
    max_len = _first(cli.max_model_len, entry.max_model_len, default_len)
    if max_len is not None and max_len < 1:
        raise LlmstackError(f"--max-model-len {max_len}: must be a positive number of tokens")

    # Tool calling.
    parser = _first(cli.tool_parser, entry.tool_parser)
    if parser is not None:
        if not backend.tool_parsers:
            raise LlmstackError(
                f"--tool-parser {parser}: {backend.title} has no tool parser switch (tool calls "
                "follow the model's chat template); drop the flag"
            )
        if parser not in backend.tool_parsers:
            raise LlmstackError(
                f"--tool-parser {parser}: unknown to {backend.title}; choose one of "
                f"{', '.join(sorted(backend.tool_parsers))}"
            )
    else:
        parser = backend.tool_parser_for(model_text)
    tools = parser is not None or backend_name == "llama"

    alias = _first(cli.litellm_alias, entry.alias,
                   config.litellm.alias if single else slugify(source.display_name))
    if not ALIAS_RE.match(alias):
        raise LlmstackError(
            f"--litellm-alias {alias!r}: LiteLLM model names may use letters, digits, '.', '_', ':' "
            "and '-' (no spaces or slashes), e.g. local-model"
        )
    service = _service_name(entry, index, single, alias)
    # Compose variables that let another host point at its own copy of the files.
    var_prefix = "LLMSTACK_" if single else f"LLMSTACK_{service.upper().replace('-', '_')}_"

    # Vision (llama.cpp needs its projector file).
    mmproj_text = _first(cli.mmproj, entry.mmproj)
    mmproj_mount = None
    if mmproj_text is not None:
        if backend_name != "llama":
            raise LlmstackError(
                f"--mmproj {mmproj_text}: only llama.cpp takes a projector file; "
                f"{backend.title} loads vision weights from the model itself (drop --mmproj)"
            )
        _no_control_chars(mmproj_text, "--mmproj")
        mmproj_path = Path(mmproj_text).expanduser()
        if not mmproj_path.is_file():
            raise LlmstackError(f"--mmproj {mmproj_text}: no such file on this host; check the path")
        mmproj_path = mmproj_path.resolve()
        mmproj_host = _host_path(mmproj_path, mmproj_text, output_dir)
        mmproj_mount = Mount(host_path=mmproj_host,
                             container_path=f"/mmproj/{mmproj_path.name}",
                             variable=_variable(f"{var_prefix}MMPROJ_FILE", mmproj_host), is_file=True,
                             role="vision projector")
    if backend_name == "llama":
        vision = mmproj_mount is not None
        vision_source = "the --mmproj projector is mounted" if vision else "no --mmproj projector given"
    elif entry.vision is not None:
        vision = entry.vision
        vision_source = "set by `vision:` in models.yaml"
    else:
        vision = backend.looks_like_vision(model_text)
        vision_source = "guessed from the model name; `vision:` in models.yaml overrides"

    # Model mount: the directory, or the file itself (llama.cpp serves one .gguf file).
    mount = None
    if source.path is not None:
        target = source.gguf if backend_name == "llama" and source.gguf else source.path
        is_file = target.is_file()
        host = _host_path(target, model_text, output_dir)
        mount = Mount(
            host_path=host,
            container_path=f"/models/{target.name}",
            variable=_variable(f"{var_prefix}MODEL_{'FILE' if is_file else 'DIR'}", host),
            is_file=is_file,
        )

    repository = defaults.image
    version = _first(cli.backend_version, entry.version, defaults.version)
    image = _first(cli.backend_image, entry.image) or backend.image(repository, version, gpus.enabled)

    port = _check_port(_first(cli.port, entry.port, defaults.port), "--port")
    served_name = slugify(source.display_name.removesuffix(".gguf"))

    spec = ModelSpec(
        service=service,
        alias=alias,
        backend=backend_name,
        display_name=source.hub_id or source.display_name,
        served_name=served_name,
        hub_id=source.hub_id,
        mount=mount,
        mmproj=mmproj_mount,
        image=image,
        port=port,
        gpus=gpus,
        tensor_parallel=tp,
        max_model_len=max_len,
        tool_parser=parser,
        tools=tools,
        vision=bool(vision),
        vision_source=vision_source,
        args=args,
        extra_args=tuple(cli.extra_args or entry.extra_args),
        publish_port=bool(_first(cli.publish_backend, entry.publish_port, False)),
    )
    # Some backends name the served model themselves (TRT-LLM: the model string).
    return spec.model_copy(update={"served_name": backend.served_name(spec)})


def _service_name(entry: StackModel, index: int, single: bool, alias: str) -> str:
    if entry.service:
        if not SERVICE_RE.match(entry.service):
            raise LlmstackError(
                f"models[{index}].service {entry.service!r}: use lowercase letters, digits, '-' and '_'"
            )
        return entry.service
    if single:
        return "backend"
    return f"backend-{slugify(entry.alias or alias or str(index))}"


def _check_uniqueness(models: list[ModelSpec], litellm: LitellmSpec | None, network: str) -> None:
    aliases = [m.alias for m in models]
    for alias in aliases:
        if aliases.count(alias) > 1:
            raise LlmstackError(f"alias {alias!r} is used by two models; give each model its own alias")
    services = [m.service for m in models]
    for service in services:
        if services.count(service) > 1 or service == "litellm":
            raise LlmstackError(f"service name {service!r} is used twice; set a distinct `service:`")
    if litellm is not None:
        for m in models:
            if m.port == litellm.port:
                raise LlmstackError(
                    f"--litellm-port {litellm.port} equals the port of backend {m.service!r}; "
                    "pick another --litellm-port (or --port for the backend)"
                )
    ports = [m.port for m in models]
    shared_host = network == "host" or any(m.publish_port for m in models)
    if shared_host:
        for m in models:
            if ports.count(m.port) > 1 and (network == "host" or m.publish_port):
                raise LlmstackError(
                    f"port {m.port} is used by two backends on the host; give each model its own `port:`"
                )
