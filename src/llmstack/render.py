"""Pure rendering: StackSpec -> {file name: content}. No I/O besides reading the templates.

The templates hold the structure; every value reaches YAML through a quoting filter (`cq` for
the compose file, which also escapes `$` against Compose interpolation; `yq` for plain YAML).
Every render is parsed back and checked before anyone writes it.
"""

from __future__ import annotations

import json
import os
import tempfile
from functools import lru_cache
from typing import Any

import jinja2
import yaml

from llmstack import backends, stamp
from llmstack.backends.base import python_healthcheck
from llmstack.errors import RenderError
from llmstack.model import ModelSpec, StackSpec
from llmstack.paths import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    GITIGNORE,
    LITELLM_FILE,
    templates_dir,
)

HF_CACHE_VOLUME = "hf-cache"
HF_CACHE_VARIABLE = "LLMSTACK_HF_CACHE"
WORKERS_VARIABLE = "LLMSTACK_LITELLM_WORKERS"


def compose_quote(value: Any) -> str:
    """A YAML scalar Compose reads back verbatim: JSON-quoted, `$` doubled."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(str(value).replace("$", "$$"), ensure_ascii=False)


def yaml_quote(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def compose_variable(name: str, default: str) -> str:
    """`${NAME:-default}` (unquoted): a host-specific value another host can override from `.env`."""
    return "${%s:-%s}" % (name, default.replace("$", "$$"))


class _CompiledCache(jinja2.BytecodeCache):
    """Compiled templates in the user's cache directory, keyed by template source: a cold run
    skips Jinja's parser and compiler (about 20 ms). Any I/O problem just means no cache."""

    def __init__(self) -> None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        self.directory = os.path.join(base, "llmstack", "jinja")

    def _path(self, bucket: jinja2.bccache.Bucket) -> str:
        return os.path.join(self.directory, f"{bucket.key}.cache")

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            with open(self._path(bucket), "rb") as handle:
                bucket.load_bytecode(handle)
        except (OSError, ValueError, EOFError):
            pass

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            os.makedirs(self.directory, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=self.directory)
            with os.fdopen(fd, "wb") as handle:
                bucket.write_bytecode(handle)
            os.replace(temp, self._path(bucket))
        except OSError:
            pass


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        bytecode_cache=_CompiledCache(),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cq"] = compose_quote
    env.filters["yq"] = yaml_quote
    env.filters["json"] = lambda v: json.dumps(v, ensure_ascii=False)
    env.globals["var"] = lambda name, default: json.dumps(compose_variable(name, default), ensure_ascii=False)
    env.globals["var_text"] = compose_variable
    return env


def _listen_host(stack: StackSpec, model: ModelSpec) -> str:
    if stack.network == "bridge":
        return "0.0.0.0"
    return stack.bind if model.publish_port else "127.0.0.1"


def _probe_host(listen: str) -> str:
    return "127.0.0.1" if listen in ("0.0.0.0", "::") else listen


def _publish(bind: str, port: int) -> str:
    host = f"[{bind}]" if ":" in bind else bind
    return f"{host}:{port}:{port}"


def _api_base(stack: StackSpec, model: ModelSpec) -> str:
    host = model.service if stack.network == "bridge" else _probe_host(_listen_host(stack, model))
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{model.port}/v1"


def _backend_view(stack: StackSpec, model: ModelSpec) -> dict[str, Any]:
    backend = backends.get(model.backend)
    listen = _listen_host(stack, model)
    gpu = model.gpus
    return {
        "spec": model,
        "title": backend.title,
        "command": backend.command(model, listen) + list(model.extra_args),
        "healthcheck": backend.healthcheck(_probe_host(listen), model.port),
        "ipc_host": backend.ipc_host and gpu.enabled,
        "ulimits": backend.ulimits and gpu.enabled,
        "publish": _publish(stack.bind, model.port) if model.publish_port and stack.network == "bridge" else None,
        "gpu_count": None if gpu.kind == "ids" else ("all" if gpu.kind == "all" else gpu.count),
        "gpu_ids": list(gpu.ids),
        # Model load (and a first hub download) can take many minutes on real GPUs.
        "start_period": "30m" if gpu.enabled else "10m",
        "health_interval": backend.health_interval,
        "api_base": _api_base(stack, model),
        "features": backend.features,
    }


def build_context(stack: StackSpec) -> dict[str, Any]:
    models = [_backend_view(stack, model) for model in stack.models]
    litellm = None
    if stack.litellm is not None:
        listen = "0.0.0.0" if stack.network == "bridge" else stack.bind
        command = ["--config", "/app/config.yaml", "--port", str(stack.litellm.port), "--host", listen]
        litellm = {
            "spec": stack.litellm,
            "command": command,
            # The LiteLLM image has python3 but neither curl nor wget.
            "healthcheck": python_healthcheck(_probe_host(listen), stack.litellm.port, "/health/liveliness"),
            "publish": _publish(stack.bind, stack.litellm.port) if stack.network == "bridge" else None,
        }
    return {
        "stack": stack,
        "models": models,
        "litellm": litellm,
        "hf_cache_volume": HF_CACHE_VOLUME,
        "hf_cache_variable": HF_CACHE_VARIABLE,
        "workers_variable": WORKERS_VARIABLE,
        "regen_command": stack.regen_command.replace("\n", " "),
        "gateway_url": f"http://{_probe_host(stack.bind)}:{stack.litellm.port}" if stack.litellm else None,
        "hash_placeholder": stamp.PLACEHOLDER,
    }


def render(stack: StackSpec) -> dict[str, str]:
    """All files of a stack directory except `.env` (which holds the secret and is never rendered)."""
    env = _environment()
    context = build_context(stack)
    files = {
        COMPOSE_FILE: env.get_template("docker-compose.yml.j2").render(context),
        ENV_EXAMPLE: env.get_template("env.example.j2").render(context),
        GITIGNORE: env.get_template("gitignore.j2").render(context),
    }
    if stack.litellm is not None:
        files[LITELLM_FILE] = env.get_template("litellm-config.yaml.j2").render(context)
    files = {name: stamp.stamp(text) for name, text in files.items()}
    validate(stack, files)
    return dict(sorted(files.items()))


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it


def _load(name: str, text: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:  # pragma: no cover - a template bug
        raise RenderError(f"rendered {name} is not valid YAML: {exc}") from exc


def validate(stack: StackSpec, files: dict[str, str]) -> None:
    """Parse the rendered YAML back and check it says what the spec says."""
    compose = _load(COMPOSE_FILE, files[COMPOSE_FILE])
    if not isinstance(compose, dict) or not isinstance(compose.get("services"), dict):
        raise RenderError(f"rendered {COMPOSE_FILE} has no services")
    services = compose["services"]
    expected = [m.service for m in stack.models] + (["litellm"] if stack.litellm else [])
    if list(services) != expected:
        raise RenderError(f"rendered services {list(services)} != {expected}")
    for model in stack.models:
        service = services[model.service]
        if service.get("image") != model.image.replace("$", "$$"):
            raise RenderError(f"service {model.service}: image mismatch")
        for key in ("command", "healthcheck", "restart"):
            if key not in service:
                raise RenderError(f"service {model.service}: missing {key}")
        if model.gpus.enabled:
            devices = service["deploy"]["resources"]["reservations"]["devices"]
            if ("count" in devices[0]) == ("device_ids" in devices[0]):
                raise RenderError(f"service {model.service}: GPU reservation needs count xor device_ids")
    if stack.litellm is not None:
        gateway = services["litellm"]
        for model in stack.models:
            if gateway["depends_on"][model.service]["condition"] != "service_healthy":
                raise RenderError("litellm must wait for healthy backends")
        env = gateway["environment"]
        if not str(env.get("LITELLM_MASTER_KEY", "")).startswith("${LITELLM_MASTER_KEY:?"):
            raise RenderError("the master key must come from the environment, never the file")
        config = _load(LITELLM_FILE, files[LITELLM_FILE])
        aliases = [entry["model_name"] for entry in config["model_list"]]
        if aliases != [m.alias for m in stack.models]:
            raise RenderError(f"litellm aliases {aliases} do not match the stack")
        for entry in config["model_list"]:
            if entry["litellm_params"]["model"].startswith("openai/"):
                raise RenderError("the openai/ route sends Anthropic requests to /v1/responses")
