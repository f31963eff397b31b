"""Pure rendering: StackSpec -> {file name: content}. No I/O besides reading the templates.

The templates hold the structure; every value reaches YAML through a quoting filter (`cq` for
the compose file, which also escapes `$` against Compose interpolation; `yq` for plain YAML).
Every render is parsed back and checked before anyone writes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from typing import Any

import jinja2
import yaml

from llmstack import __version__, backends, escaping, manifest, stamp
from llmstack.backends.base import python_healthcheck
from llmstack.errors import RenderError
from llmstack.escaping import Block, block, compose_quote, compose_variable, finalize, json_text, yaml_quote
from llmstack.gateway import REPLICA_ROUTER, SINGLE_ROUTER
from llmstack.paths import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    GITIGNORE,
    LITELLM_FILE,
    MANIFEST,
    templates_dir,
)
from llmstack.spec import ModelSpec, StackSpec, kube_name

HF_CACHE_VOLUME = "hf-cache"
HF_CACHE_VARIABLE = "LLMSTACK_HF_CACHE"
WORKERS_VARIABLE = "LLMSTACK_LITELLM_WORKERS"


class _CompiledCache(jinja2.BytecodeCache):
    """Compiled templates in the user's cache directory: a cold run skips Jinja's parser and
    compiler (about 20 ms). Jinja checks a cached template against its source and Jinja's own
    version, not against the environment it was compiled for, and `finalize` (the escaping of
    every value) is compiled into the code: so the directory is named after a fingerprint of
    the code that sets up the environment (this module and escaping.py). Code compiled by an
    older or newer llmstack is never run. Any I/O problem just means no cache."""

    def __init__(self) -> None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        self.directory = os.path.join(base, "llmstack", f"jinja-{_environment_fingerprint()}")

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


def _environment_fingerprint() -> str:
    digest = hashlib.sha256(__version__.encode())
    for path in (__file__, escaping.__file__):
        try:
            with open(path, "rb") as handle:
                digest.update(handle.read())
        except OSError:  # pragma: no cover - a module without its source: never reuse a cache
            digest.update(os.urandom(16))
    return digest.hexdigest()[:16]


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        finalize=finalize,
        bytecode_cache=_CompiledCache(),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cq"] = compose_quote
    env.filters["yq"] = yaml_quote
    env.filters["json"] = json_text
    env.filters["block"] = block
    env.globals["var"] = lambda name, default: json_text(compose_variable(name, default))
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


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _api_base(stack: StackSpec, model: ModelSpec) -> str:
    if stack.target == "kubernetes":  # the backend's Service, by its name in the same namespace
        return f"http://{kube_name(stack.name, model.service)}:{model.port}/v1"
    host = model.service if stack.network == "bridge" else _probe_host(_listen_host(stack, model))
    return f"http://{_url_host(host)}:{model.port}/v1"


def decisions(model: ModelSpec) -> list[str]:
    """Why the values that depend on the model are what they are (comment lines)."""
    lines = []
    origins = model.origins
    if model.max_model_len:
        lines.append(f"Context {model.max_model_len} tokens: {origins.get('max_model_len', 'default')}.")
    if model.tensor_parallel and model.tensor_parallel > 1:
        lines.append(f"Tensor parallel {model.tensor_parallel}: {origins.get('tensor_parallel', '')}.")
    if model.tool_parser:
        lines.append(f"Tool-call parser {model.tool_parser}: {origins.get('tool_parser', '')}.")
    if model.reasoning_parser:
        lines.append(f"Reasoning parser {model.reasoning_parser}: {origins.get('reasoning_parser', '')}.")
    if "memory_share" in origins:
        lines.append(f"GPU memory share: {origins['memory_share']}.")
    if model.plan is not None:
        first, second = model.plan.lines()
        lines += [f"Memory plan: {first};", f"  {second}."]
    return lines


def _backend_view(stack: StackSpec, model: ModelSpec) -> dict[str, Any]:
    backend = backends.get(model.backend)
    listen = _listen_host(stack, model)
    gpu = model.gpus
    return {
        "spec": model,
        "title": backend.title,
        "decisions": decisions(model),
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


def _deployments(stack: StackSpec, model: ModelSpec) -> list[dict[str, Any]]:
    """The litellm_params of every deployment serving one model (one per replica)."""
    backend = backends.get(model.backend)
    route = f"{backend.litellm_route}/{model.served_name}"
    bases = list(model.api_bases) or [_api_base(stack, model)]
    deployments = []
    for base in bases:
        params: dict[str, Any] = {"model": route, "api_base": base}
        if model.api_key_env:
            params["api_key"] = f"os.environ/{model.api_key_env}"
        deployments.append(params)
    return deployments


# LiteLLM hands /v1/messages untranslated to a deployment whose model_info lists it (verified
# with 1.104.5, also for hosted_vllm/ routes and under use_chat_completions_url_for_anthropic_messages).
NATIVE_ENDPOINTS = ["/v1/chat/completions", "/v1/messages"]


def _model_info(model: ModelSpec) -> dict[str, Any]:
    info: dict[str, Any] = {"supports_function_calling": model.tools, "supports_vision": model.vision}
    if model.native_messages:
        info["supported_endpoints"] = NATIVE_ENDPOINTS
    return info


def _route_comment(model: ModelSpec, title: str) -> str:
    why = model.origins.get("anthropic_route", "")
    if model.native_messages:
        return f"Anthropic requests: passed untranslated to {title}'s own /v1/messages ({why})."
    return f"Anthropic requests: translated into chat completions ({why})."


def gateway_view(stack: StackSpec) -> dict[str, Any]:
    """The LiteLLM config's entries and router settings, as data the template lays out."""
    entries = []
    by_alias = {model.alias: _deployments(stack, model) for model in stack.models}
    replicated = any(len(deployments) > 1 for deployments in by_alias.values())
    for model in stack.models:
        backend = backends.get(model.backend)
        deployments = by_alias[model.alias]
        alone = replicated and len(deployments) == 1
        if alone:  # the router settings below leave out a failing replica; this alias has no other one
            deployments[0]["cooldown_time"] = 0
        for n, params in enumerate(deployments):
            where = f"replica {n + 1} of {len(deployments)}: " if len(deployments) > 1 else ""
            if model.service:
                service = kube_name(stack.name, model.service) if stack.target == "kubernetes" else model.service
                what = f"{backend.title} serving {model.display_name} (service {service})"
            else:
                what = f"{model.display_name!r} served at {params['api_base']}"
            entries.append({
                "model_name": model.alias,
                "comments": [f"{where}{what}."] + ([
                    f"{backend.litellm_route}/ speaks the backend's /v1/chat/completions for OpenAI and Anthropic",
                    "requests alike (the plain openai/ route sends Anthropic requests to /v1/responses),",
                    "unless model_info lists /v1/messages: then Anthropic requests pass through untranslated.",
                ] if n == 0 and model is stack.models[0] else []) + ([
                    "cooldown_time 0: its only deployment is never left out (that would only turn an error",
                    "into 429s), whatever router_settings say for the replicated aliases.",
                ] if alone else []),
                "params": params,
                "info_comments": [
                    f"{backend.title} offers tool calling: {backend.features.tools}, vision: {backend.features.vision}"
                    " (README feature matrix).",
                    f"This model: vision {'true' if model.vision else 'false'} ({model.vision_source}).",
                    _route_comment(model, backend.title),
                ],
                "info": _model_info(model),
            })
    assert stack.litellm is not None
    models_by_alias = {m.alias: m for m in stack.models}
    for pattern, alias in stack.litellm.claude_routes:
        for n, params in enumerate(by_alias[alias]):
            entries.append({
                "model_name": pattern,
                "comments": ([f"Claude Code asks for {pattern} model names: served by {alias!r}."] + ([
                    "LiteLLM never leaves out a replica of a wildcard route: enable_weighted_failover (in",
                    "router_settings) sends a request that failed on one replica to another.",
                ] if len(by_alias[alias]) > 1 else [])) if n == 0 else [],
                "params": params,
                "info_comments": [],
                "info": _model_info(models_by_alias[alias]),
            })
    settings = REPLICA_ROUTER if replicated else SINGLE_ROUTER
    router = {setting.key: setting.value for setting in settings}
    notes = {setting.key: list(setting.why) for setting in settings}
    comments = [
        "Replicas of one alias (one model_list entry per upstream server): the router spreads",
        "requests over them and routes around one that fails.",
    ] if replicated else []
    return {"entries": entries, "router": router, "router_notes": notes, "router_comments": comments,
            "replicated": replicated}


def summary(stack: StackSpec) -> dict[str, Any]:
    """What the runtime commands need to know about the stack (recorded in the manifest)."""
    services = [m.service for m in stack.services] + (["litellm"] if stack.litellm else [])
    published: dict[str, list[str]] = {}
    for model in stack.services:
        if model.publish_port or stack.network == "host":
            host = _probe_host(_listen_host(stack, model))
            published[model.service] = [f"{_url_host(host)}:{model.port}"]
    gateway_url = None
    if stack.litellm is not None:
        gateway_url = f"http://{_url_host(_probe_host(stack.bind))}:{stack.litellm.port}"
        published["litellm"] = [f"{_url_host(_probe_host(stack.bind))}:{stack.litellm.port}"]
    return {
        "name": stack.name,
        "target": stack.target,
        "project": stack.name,
        "services": services,
        "backends": [m.service for m in stack.services],
        "gateway_url": gateway_url,
        "aliases": [{"name": m.alias, "tools": m.tools, "vision": m.vision,
                     "context": m.max_model_len or m.context_limit, "service": m.service or None}
                    for m in stack.models],
        "claude": {pattern: alias for pattern, alias in (stack.litellm.claude_routes if stack.litellm else ())},
        "published": published,
        # For `doctor`: what each service needs from the host.
        "gpus": {m.service: m.gpus.describe() for m in stack.services if m.gpus.enabled},
        "mounts": {m.service: [{"source": mount.host_path, "variable": mount.variable, "target": mount.container_path}
                               for mount in m.mounts] for m in stack.services if m.mounts},
        "hub_cache": stack.uses_hub,
        "key_variables": sorted({m.api_key_env for m in stack.models if m.api_key_env}),
        # For `doctor`: what the memory plan assumed, checked against this host's GPUs.
        "plans": {m.service: {"needed_gib": round(m.plan.needed_gib, 2), "share": m.plan.share,
                              "gpus": m.plan.gpus, "gpu_memory_gib": m.plan.gpu_memory_gib}
                  for m in stack.services if m.plan is not None},
    }


def build_context(stack: StackSpec) -> dict[str, Any]:
    models = [_backend_view(stack, model) for model in stack.services]
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
            "key_variables": sorted({m.api_key_env for m in stack.models if m.api_key_env}),
        }
    return {
        "stack": stack,
        "models": models,
        "litellm": litellm,
        "gateway": gateway_view(stack) if stack.litellm is not None else None,
        "hf_cache_volume": HF_CACHE_VOLUME,
        "hf_cache_variable": HF_CACHE_VARIABLE,
        "workers_variable": WORKERS_VARIABLE,
        "regen_command": stack.regen_command.replace("\n", " "),
        "gateway_url": f"http://{_url_host(_probe_host(stack.bind))}:{stack.litellm.port}" if stack.litellm else None,
        "hash_placeholder": stamp.PLACEHOLDER,
    }


def shared_files(env: jinja2.Environment, context: dict[str, Any], stack: StackSpec,
                 stack_summary: dict[str, Any]) -> dict[str, str]:
    """The files every target writes alike: `.gitignore`, and the manifest with the target's summary."""
    return {
        GITIGNORE: env.get_template("gitignore.j2").render(context),
        MANIFEST: env.get_template("manifest.yaml.j2").render(
            context, body=Block(manifest.document(stack_summary, dict(stack.inputs), dict(stack.facts)))),
    }


def render(stack: StackSpec) -> dict[str, str]:
    """All files of a stack directory except `.env` (which holds the secret and is never rendered)."""
    if stack.target == "kubernetes":
        from llmstack import kubernetes

        return kubernetes.render(stack)
    env = environment()
    context = build_context(stack)
    files = {
        COMPOSE_FILE: env.get_template("docker-compose.yml.j2").render(context),
        ENV_EXAMPLE: env.get_template("env.example.j2").render(context),
        **shared_files(env, context, stack, summary(stack)),
    }
    if stack.litellm is not None:
        files[LITELLM_FILE] = env.get_template("litellm-config.yaml.j2").render(context)
    files = {name: stamp.stamp(text) for name, text in files.items()}
    validate(stack, files, context)
    return dict(sorted(files.items()))


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it


def _load(name: str, text: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:  # pragma: no cover - a template bug
        raise RenderError(f"rendered {name} is not valid YAML: {exc}") from exc


def _same(what: str, found: Any, expected: Any) -> None:
    if found != expected:
        raise RenderError(f"{what}: rendered {found!r}, the stack means {expected!r}")


def _keys(what: str, mapping: Any, expected: set[str] | list[str]) -> None:
    if not isinstance(mapping, dict):
        raise RenderError(f"{what} is not a mapping")
    _same(f"{what} keys", sorted(mapping), sorted(expected))


def _backend_service_keys(view: dict[str, Any], stack: StackSpec) -> set[str]:
    spec: ModelSpec = view["spec"]
    keys = {"image", "command", "healthcheck", "restart"}
    optional = {
        "volumes": bool(spec.mounts or spec.hub_id), "environment": bool(spec.hub_id),
        "network_mode": stack.network == "host", "ports": bool(view["publish"]), "ipc": view["ipc_host"],
        "ulimits": view["ulimits"], "deploy": spec.gpus.enabled,
    }
    return keys | {key for key, wanted in optional.items() if wanted}


def _check_backend_service(name: str, service: Any, view: dict[str, Any], stack: StackSpec) -> None:
    spec: ModelSpec = view["spec"]
    _keys(f"service {name}", service, _backend_service_keys(view, stack))
    _same(f"service {name}: image", service["image"], spec.image.replace("$", "$$"))
    _same(f"service {name}: command", service["command"], [str(a).replace("$", "$$") for a in view["command"]])
    _same(f"service {name}: healthcheck test", service["healthcheck"]["test"], view["healthcheck"])
    volumes: list[Any] = [{"type": "bind", "target": m.container_path.replace("$", "$$"), "read_only": True,
                "source": compose_variable(m.variable, m.host_path) if m.variable else m.host_path.replace("$", "$$")}
               for m in spec.mounts]
    if spec.hub_id:
        volumes.append(compose_variable(HF_CACHE_VARIABLE, HF_CACHE_VOLUME) + ":/root/.cache/huggingface")
    if volumes:
        _same(f"service {name}: volumes", service["volumes"], volumes)
    if spec.hub_id:
        _keys(f"service {name}: environment", service["environment"], {"HF_TOKEN"})
    if view["publish"]:
        _same(f"service {name}: ports", service["ports"], [view["publish"]])
    if spec.gpus.enabled:
        devices = service["deploy"]["resources"]["reservations"]["devices"]
        if len(devices) != 1 or ("count" in devices[0]) == ("device_ids" in devices[0]):
            raise RenderError(f"service {name}: GPU reservation needs count xor device_ids")


def _check_gateway_service(service: Any, context: dict[str, Any], stack: StackSpec) -> None:
    litellm = context["litellm"]
    keys = {"image", "command", "volumes", "environment", "healthcheck", "restart"}
    keys |= {"network_mode"} if stack.network == "host" else {"ports"}
    keys |= {"depends_on"} if stack.services else set()
    _keys("service litellm", service, keys)
    assert stack.litellm is not None
    _same("service litellm: image", service["image"], stack.litellm.image.replace("$", "$$"))
    command = list(litellm["command"])
    if stack.litellm.num_workers:
        command += ["--num_workers", compose_variable(WORKERS_VARIABLE, str(stack.litellm.num_workers))]
    _same("service litellm: command", service["command"], command)
    _same("service litellm: volumes", service["volumes"],
          [{"type": "bind", "source": "./litellm-config.yaml", "target": "/app/config.yaml", "read_only": True}])
    env = service["environment"]
    _keys("service litellm: environment", env,
          {"LITELLM_MASTER_KEY", "LITELLM_LOCAL_MODEL_COST_MAP", "LITELLM_LOG", *litellm["key_variables"]})
    if not str(env["LITELLM_MASTER_KEY"]).startswith("${LITELLM_MASTER_KEY:?"):
        raise RenderError("the master key must come from the environment, never the file")
    if stack.services:
        _same("service litellm: depends_on", service["depends_on"],
              {m.service: {"condition": "service_healthy"} for m in stack.services})


def _check_dotenv_example(text: str, expected: set[str]) -> None:
    """`.env.example`: comments, blank lines and `NAME=` for the variables the stack reads."""
    names = set()
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or value or name not in expected:
            raise RenderError(f"{ENV_EXAMPLE}: unexpected line {line!r}")
        names.add(name)
    _same(f"{ENV_EXAMPLE} variables", sorted(names), sorted(expected))


def check_shared_files(files: dict[str, str], env_variables: set[str]) -> None:
    """The files every target writes alike say only what llmstack put there."""
    ignored = [line for line in files[GITIGNORE].splitlines() if line.strip() and not line.startswith("#")]
    _same(f"{GITIGNORE} entries", ignored, [".env"])
    _check_dotenv_example(files[ENV_EXAMPLE], env_variables)
    data = _load(MANIFEST, files[MANIFEST])
    body = files[MANIFEST][files[MANIFEST].index("\n{"):]
    _same(f"{MANIFEST}", data, json.loads(body))
    _keys(MANIFEST, data, {"format", "stack", "inputs", "models"})


def _env_variables(stack: StackSpec) -> set[str]:
    names = {"LITELLM_MASTER_KEY"} if stack.litellm is not None else set()
    if stack.litellm is not None:
        names |= {m.api_key_env for m in stack.models if m.api_key_env}
    if stack.uses_hub:
        names.add("HF_TOKEN")
    return names


def validate(stack: StackSpec, files: dict[str, str], context: dict[str, Any] | None = None) -> None:
    """Parse every rendered file back and check it holds exactly the structure and values the spec
    means: top-level keys, services and their keys, commands, model_list entries. No value can add
    a key, a service or a document; anything else is an llmstack bug (exit 3, nothing written)."""
    context = context or build_context(stack)
    compose = _load(COMPOSE_FILE, files[COMPOSE_FILE])
    _keys(COMPOSE_FILE, compose, {"name", "services"} | ({"volumes"} if stack.uses_hub else set()))
    _same(f"{COMPOSE_FILE}: name", compose["name"], stack.name)
    services = compose["services"]
    expected = [m.service for m in stack.services] + (["litellm"] if stack.litellm else [])
    if not isinstance(services, dict) or list(services) != expected:
        raise RenderError(f"rendered services {list(services or [])} != {expected}")
    for view in context["models"]:
        _check_backend_service(view["spec"].service, services[view["spec"].service], view, stack)
    if stack.uses_hub:
        _same(f"{COMPOSE_FILE}: volumes", compose["volumes"], {HF_CACHE_VOLUME: None})
    if stack.litellm is not None:
        _check_gateway_service(services["litellm"], context, stack)
        validate_gateway_config(stack, files[LITELLM_FILE], context["gateway"])
    check_shared_files(files, _env_variables(stack))


def validate_gateway_config(stack: StackSpec, text: str, view: dict[str, Any] | None = None) -> None:
    """The LiteLLM config holds exactly the entries and settings the gateway view lays out, and
    serves every alias (and Claude's names) through chat completions."""
    assert stack.litellm is not None
    view = view or gateway_view(stack)
    config = _load(LITELLM_FILE, text)
    _keys(LITELLM_FILE, config, {"model_list", "litellm_settings", "router_settings", "general_settings"})
    aliases = list(dict.fromkeys(entry["model_name"] for entry in config["model_list"]))
    expected_aliases = [m.alias for m in stack.models] + [p for p, _ in stack.litellm.claude_routes]
    if aliases != expected_aliases:
        raise RenderError(f"litellm aliases {aliases} do not match the stack {expected_aliases}")
    _same(f"{LITELLM_FILE}: model_list length", len(config["model_list"]), len(view["entries"]))
    for entry, wanted in zip(config["model_list"], view["entries"], strict=True):
        _keys(f"{LITELLM_FILE}: model_list entry", entry, {"model_name", "litellm_params", "model_info"})
        _same(f"{LITELLM_FILE}: {wanted['model_name']}", entry["model_name"], wanted["model_name"])
        _same(f"{LITELLM_FILE}: {wanted['model_name']} litellm_params", entry["litellm_params"], wanted["params"])
        _same(f"{LITELLM_FILE}: {wanted['model_name']} model_info", entry["model_info"], wanted["info"])
        if entry["litellm_params"]["model"].startswith("openai/"):
            raise RenderError("the openai/ route sends Anthropic requests to /v1/responses")
    _same(f"{LITELLM_FILE}: router_settings", config["router_settings"], view["router"])
    _same(f"{LITELLM_FILE}: general_settings", config["general_settings"],
          {"master_key": "os.environ/LITELLM_MASTER_KEY"})
    _keys(f"{LITELLM_FILE}: litellm_settings", config["litellm_settings"],
          {"drop_params", "use_chat_completions_url_for_anthropic_messages", "disable_hf_tokenizer_download"})
