"""The Compose target: StackSpec -> a directory for `docker compose up -d`.

`docker-compose.yml` (a service per backend, the gateway in front), `litellm-config.yaml` (and
`llmstack_hook.py` beside it when an alias's requests need adapting), `.env.example`,
`.gitignore` and the manifest. The templates hold the structure; values reach
them through targets/jinja.py. Every render is parsed back and checked (`validate`) before anyone
writes it: anything but what the spec means is an llmstack bug (exit 3, nothing written). No I/O
besides reading the templates (and `validate_with_tool`, which runs the real Compose CLI).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmstack import backends
from llmstack.backends.base import Container, python_healthcheck
from llmstack.errors import RenderError
from llmstack.escaping import compose_required, compose_variable
from llmstack.manifest import MountSummary, StackSummary
from llmstack.paths import BACKEND_KEY, COMPOSE_FILE, ENV_EXAMPLE, HOOK_FILE, LITELLM_FILE, STARTUP_FILE
from llmstack.spec import ModelSpec, StackSpec
from llmstack.targets import common, jinja
from llmstack.targets.common import keys, same

HF_CACHE_VOLUME = "hf-cache"
# In the gateway's container: the config, and the hook beside it (LiteLLM loads it from the config's directory).
CONFIG_PATH = "/app/config.yaml"
HOOK_PATH = f"/app/{HOOK_FILE}"
# The startup hook in a directory of its own, which goes on PYTHONPATH (/app holds the image's own sources).
STARTUP_DIR = "/llmstack"
VOLUME_COMMENTS = {
    HOOK_FILE: "llmstack's request hook (litellm_settings.callbacks): LiteLLM loads it from the config's directory.",
    STARTUP_FILE: "llmstack's startup hook (LITELLM_WORKER_STARTUP_HOOKS below): /v1/messages matched first.",
}
HF_CACHE_VARIABLE = "LLMSTACK_HF_CACHE"
WORKERS_VARIABLE = "LLMSTACK_LITELLM_WORKERS"
# What `--stdout` prints; who reads `.env` (for the message after creating it).
STDOUT_FILE: str | None = COMPOSE_FILE
NO_STDOUT = ""
ENV_READER = "`docker compose`"


def foreign_files(directory: Path) -> list[str]:
    """Files `docker compose` would load beside the rendered ones (override files, ...)."""
    from llmstack.write import compose_would_merge

    return compose_would_merge(directory)


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


def _gateway_url(stack: StackSpec) -> str | None:
    return f"http://{_url_host(_probe_host(stack.bind))}:{stack.litellm.port}" if stack.litellm else None


def api_base(stack: StackSpec, model: ModelSpec) -> str:
    """Where the gateway reaches a backend: by service name on the bridge network, else on the host."""
    host = model.service if stack.network == "bridge" else _probe_host(_listen_host(stack, model))
    return f"http://{_url_host(host)}:{model.port}/v1"


def gateway_view(stack: StackSpec) -> dict[str, Any]:
    return common.gateway_view(stack, lambda m: api_base(stack, m), lambda m: m.service)


def _backend_view(stack: StackSpec, model: ModelSpec) -> dict[str, Any]:
    backend = backends.get(model.backend)
    listen = _listen_host(stack, model)
    gpu = model.gpus
    container = backend.container(model)
    return {
        "spec": model,
        "title": backend.title,
        "decisions": common.decisions(model),
        "command": backend.argv(model, listen),
        "healthcheck": backend.healthcheck(_probe_host(listen), model.port),
        "container": container,
        "environment": _environment(model, container, backend.key_variable() if model.backend_key else None),
        "ipc_host": container.ipc_host,
        "ulimits": container.ulimits,
        "publish": _publish(stack.bind, model.port) if model.publish_port and stack.network == "bridge" else None,
        "gpu_count": None if gpu.kind == "ids" else ("all" if gpu.kind == "all" else gpu.count),
        "gpu_ids": list(gpu.ids),
        "start_period": f"{container.start_minutes}m",
        "health_interval": backend.health_interval,
        "api_base": api_base(stack, model),
        "features": backend.features,
        # The variable of the container's environment holding its own key (None: not keyed).
        "key_env": backend.key_variable() if model.backend_key else None,
        "key_value": compose_required(model.backend_key) if model.backend_key else None,
    }


def _environment(model: ModelSpec, container: Container, key_env: str | None) -> dict[str, str]:
    """The backend's environment: the container's variables (a host-dependent one from `.env`, with
    the rendered value as default), HF_TOKEN for a hub model, and its own API key, only ever from
    `.env` (never a value in the file)."""
    env = {var.name: compose_variable(var.variable, var.value) if var.variable else var.value
           for var in container.environment}
    if model.hub_id:
        env["HF_TOKEN"] = "${HF_TOKEN:-}"
    if key_env and model.backend_key:
        env[key_env] = compose_required(model.backend_key)
    return env


def _gateway(stack: StackSpec) -> dict[str, Any] | None:
    if stack.litellm is None:
        return None
    listen = "0.0.0.0" if stack.network == "bridge" else stack.bind
    return {
        "spec": stack.litellm,
        "command": ["--config", CONFIG_PATH, "--port", str(stack.litellm.port), "--host", listen],
        # The LiteLLM image has python3 but neither curl nor wget.
        "healthcheck": python_healthcheck(_probe_host(listen), stack.litellm.port, "/health/liveliness"),
        "publish": _publish(stack.bind, stack.litellm.port) if stack.network == "bridge" else None,
        "key_variables": common.key_variables(stack),
        "backend_keys": common.backend_keys(stack),
        "volumes": _gateway_volumes(stack),
        "volume_comments": [VOLUME_COMMENTS.get(v["source"].removeprefix("./"), "") for v in _gateway_volumes(stack)],
        "startup_environment": common.startup_environment(STARTUP_DIR) if common.needs_startup(stack) else {},
    }


def _gateway_volumes(stack: StackSpec) -> list[dict[str, Any]]:
    targets = {HOOK_FILE: HOOK_PATH, STARTUP_FILE: f"{STARTUP_DIR}/{STARTUP_FILE}"}
    files = [(LITELLM_FILE, CONFIG_PATH)] + [(name, targets[name]) for name in common.python_files(stack)]
    return [{"type": "bind", "source": f"./{name}", "target": target, "read_only": True} for name, target in files]


def summary(stack: StackSpec) -> StackSummary:
    """What the runtime commands need to know about the stack (recorded in the manifest)."""
    published: dict[str, list[str]] = {}
    for model in stack.services:
        if model.publish_port or stack.network == "host":
            published[model.service] = [f"{_url_host(_probe_host(_listen_host(stack, model)))}:{model.port}"]
    if stack.litellm is not None:
        published["litellm"] = [f"{_url_host(_probe_host(stack.bind))}:{stack.litellm.port}"]
    return common.summary(
        stack, gateway_url=_gateway_url(stack), published=published,
        gpus={m.service: m.gpus.describe() for m in stack.services if m.gpus.enabled},
        mounts={m.service: [MountSummary(mount.host_path, mount.variable, mount.container_path) for mount in m.mounts]
                for m in stack.services if m.mounts})


def build_context(stack: StackSpec) -> dict[str, Any]:
    return {
        **common.header_context(stack),
        "models": [_backend_view(stack, model) for model in stack.services],
        "litellm": _gateway(stack),
        "gateway": gateway_view(stack) if stack.litellm is not None else None,
        "hf_cache_volume": HF_CACHE_VOLUME,
        "hf_cache_variable": HF_CACHE_VARIABLE,
        "workers_variable": WORKERS_VARIABLE,
        "gateway_url": _gateway_url(stack),
        "env_keys": env_keys(stack),
        "backend_keys": common.backend_keys(stack),
        "keyed": [m.service for m in stack.services if m.backend_key],
        "required": compose_required,
    }


def render(stack: StackSpec) -> dict[str, str]:
    """All files of a stack directory except `.env` (which holds the secret and is never rendered)."""
    context = build_context(stack)
    files = {
        COMPOSE_FILE: jinja.render("docker-compose.yml.j2", context),
        ENV_EXAMPLE: jinja.render("env.example.j2", context),
        **common.shared_files(context, stack, summary(stack)),
    }
    if stack.litellm is not None:
        files[LITELLM_FILE] = jinja.render("litellm-config.yaml.j2", context)
    files = common.stamped(files)
    validate(stack, files, context)
    return dict(sorted(files.items()))


def env_keys(stack: StackSpec) -> list[str]:
    """The keys `.env` holds: the gateway's master key, and the backends' own when they are
    published beyond this host (neither: no `.env`)."""
    return common.env_keys(stack, gateway_key=stack.litellm is not None)


def next_steps(stack: StackSpec, where: Path) -> list[str]:
    return [f"Next: llmstack up {where}   (or: cd {where} && docker compose up -d)"]


def validate_with_tool(files: dict[str, str]) -> None:
    """Run the real Compose CLI's `config --quiet` on the rendered files (in a scratch directory)."""
    import os
    import subprocess
    import tempfile

    from llmstack.compose import find_compose

    cli = find_compose()
    with tempfile.TemporaryDirectory(prefix="llmstack-validate-") as scratch:
        for name, text in files.items():
            Path(scratch, name).write_text(text, encoding="utf-8")
        env = {**os.environ, "LITELLM_MASTER_KEY": "sk-validation-placeholder",
               BACKEND_KEY: "sk-validation-placeholder"}
        result = subprocess.run([*cli.argv, "config", "--quiet"], cwd=scratch, env=env,
                                capture_output=True, text=True)
    if result.returncode != 0:
        detail = " ".join((result.stderr or result.stdout).split())
        raise RenderError(f"{cli.describe()} rejects the rendered {COMPOSE_FILE}: {detail}")


# ---- checks on what was rendered ---------------------------------------------------------------

def _backend_service_keys(view: dict[str, Any], stack: StackSpec) -> set[str]:
    spec: ModelSpec = view["spec"]
    optional = {
        "volumes": bool(spec.mounts or spec.hub_id), "environment": bool(view["environment"]),
        "network_mode": stack.network == "host", "ports": bool(view["publish"]), "ipc": view["ipc_host"],
        "ulimits": view["ulimits"], "deploy": spec.gpus.enabled, "shm_size": bool(view["container"].shm_size),
    }
    return {"image", "command", "healthcheck", "restart"} | {key for key, wanted in optional.items() if wanted}


def _check_backend_service(name: str, service: Any, view: dict[str, Any], stack: StackSpec) -> None:
    spec: ModelSpec = view["spec"]
    keys(f"service {name}", service, _backend_service_keys(view, stack))
    same(f"service {name}: image", service["image"], spec.image.replace("$", "$$"))
    same(f"service {name}: command", service["command"], [str(a).replace("$", "$$") for a in view["command"]])
    same(f"service {name}: healthcheck test", service["healthcheck"]["test"], view["healthcheck"])
    volumes: list[Any] = [{"type": "bind", "target": m.container_path.replace("$", "$$"), "read_only": True,
                           "source": compose_variable(m.variable, m.host_path) if m.variable else
                           m.host_path.replace("$", "$$")} for m in spec.mounts]
    if spec.hub_id:
        volumes.append(compose_variable(HF_CACHE_VARIABLE, HF_CACHE_VOLUME) + ":/root/.cache/huggingface")
    if view["environment"]:
        same(f"service {name}: environment", service["environment"], view["environment"])
    if view["container"].shm_size:
        same(f"service {name}: shm_size", service["shm_size"], view["container"].shm_size)
    if volumes:
        same(f"service {name}: volumes", service["volumes"], volumes)
    if view["publish"]:
        same(f"service {name}: ports", service["ports"], [view["publish"]])
    if spec.gpus.enabled:
        devices = service["deploy"]["resources"]["reservations"]["devices"]
        if len(devices) != 1 or ("count" in devices[0]) == ("device_ids" in devices[0]):
            raise RenderError(f"service {name}: GPU reservation needs count xor device_ids")


def _check_gateway_service(service: Any, context: dict[str, Any], stack: StackSpec) -> None:
    litellm = context["litellm"]
    expected = {"image", "command", "volumes", "environment", "healthcheck", "restart"}
    expected |= {"network_mode"} if stack.network == "host" else {"ports"}
    expected |= {"depends_on"} if stack.services else set()
    expected |= {"cpu_shares"} if stack.litellm and stack.litellm.cpu_shares else set()
    keys("service litellm", service, expected)
    assert stack.litellm is not None
    same("service litellm: image", service["image"], stack.litellm.image.replace("$", "$$"))
    command = list(litellm["command"])
    if stack.litellm.num_workers:
        command += ["--num_workers", compose_variable(WORKERS_VARIABLE, str(stack.litellm.num_workers))]
    same("service litellm: command", service["command"], command)
    same("service litellm: volumes", service["volumes"], litellm["volumes"])
    if stack.litellm.cpu_shares:
        same("service litellm: cpu_shares", service["cpu_shares"], stack.litellm.cpu_shares)
    env = service["environment"]
    keys("service litellm: environment", env, {"LITELLM_MASTER_KEY", "LITELLM_LOCAL_MODEL_COST_MAP", "LITELLM_LOG",
                                                *litellm["key_variables"], *litellm["backend_keys"],
                                                *litellm["startup_environment"]})
    for name, value in litellm["startup_environment"].items():
        same(f"service litellm: environment {name}", env[name], value)
    if not str(env["LITELLM_MASTER_KEY"]).startswith("${LITELLM_MASTER_KEY:?"):
        raise RenderError("the master key must come from the environment, never the file")
    for name in litellm["backend_keys"]:
        same(f"service litellm: environment {name}", env[name], compose_required(name))
    if stack.services:
        same("service litellm: depends_on", service["depends_on"],
             {m.service: {"condition": "service_healthy"} for m in stack.services})


def _env_variables(stack: StackSpec) -> set[str]:
    names = {"LITELLM_MASTER_KEY", *common.key_variables(stack)} if stack.litellm is not None else set()
    names |= set(common.backend_keys(stack))
    if stack.uses_hub:
        names.add("HF_TOKEN")
    return names


def validate(stack: StackSpec, files: dict[str, str], context: dict[str, Any] | None = None) -> None:
    """Parse every rendered file back and check it holds exactly the structure and values the spec
    means: top-level keys, services and their keys, commands, model_list entries. No value can add
    a key, a service or a document; anything else is an llmstack bug (exit 3, nothing written)."""
    context = context or build_context(stack)
    compose = common.load(COMPOSE_FILE, files[COMPOSE_FILE])
    keys(COMPOSE_FILE, compose, {"name", "services"} | ({"volumes"} if stack.uses_hub else set()))
    same(f"{COMPOSE_FILE}: name", compose["name"], stack.name)
    services = compose["services"]
    expected = [m.service for m in stack.services] + (["litellm"] if stack.litellm else [])
    if not isinstance(services, dict) or list(services) != expected:
        raise RenderError(f"rendered services {list(services or [])} != {expected}")
    for view in context["models"]:
        _check_backend_service(view["spec"].service, services[view["spec"].service], view, stack)
    if stack.uses_hub:
        same(f"{COMPOSE_FILE}: volumes", compose["volumes"], {HF_CACHE_VOLUME: None})
    if stack.litellm is not None:
        _check_gateway_service(services["litellm"], context, stack)
        common.validate_gateway_config(stack, files[LITELLM_FILE], context["gateway"])
    common.check_shared_files(files, _env_variables(stack), stack)
