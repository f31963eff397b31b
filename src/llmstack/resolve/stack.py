"""Stack-level stages: where the stack lives (network, address, target), its name and output
directory, the gateway, and the checks across models (aliases, services, ports)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from llmstack import backends, gateway
from llmstack.errors import InputError
from llmstack.provenance import Layers, Sourced, derived, flag
from llmstack.resolve import checks
from llmstack.resolve.inputs import Inputs
from llmstack.spec import SERVICE_RE, LitellmSpec, ModelSpec
from llmstack.targets import DEFAULT, TARGETS


@dataclass(frozen=True)
class Place:
    """Where the stack lives: its network mode, host address and target."""

    network: Sourced[str]
    bind: Sourced[str]
    target: Sourced[str]


def place(settings: Layers) -> Place:
    """Stage 2: network, published address and target, each checked."""
    network = settings.get("network")
    bind = settings.get("bind")
    target = settings.get("target")
    assert network is not None and bind is not None and target is not None
    if network.value not in ("bridge", "host"):
        raise InputError(f"{network.label()}: choose bridge (default) or host")
    try:
        ipaddress.ip_address(bind.value)
    except ValueError:
        raise InputError(
            f"{bind.label()}: not an IP address; use 127.0.0.1 (this host only) or 0.0.0.0 (all interfaces)"
        ) from None
    if target.value not in TARGETS:
        choices = " or ".join(f"{name} (default)" if name == DEFAULT else name for name in TARGETS)
        raise InputError(f"{target.label()}: choose {choices}")
    return Place(network, bind, target)


def _gateway_only(requested: Any) -> bool:
    known = backends.registry()
    return requested in known and not known[requested].runs_service


def stack_name(inputs: Inputs) -> Sourced[str]:
    """Stage 3: the stack's name (the Compose project), from --name, the stack, or the model's name."""
    given = inputs.settings.get("name")
    if given is not None:
        name = given
    elif inputs.stack is not None:
        name = Sourced(inputs.stack.name, derived("the stack's key"))
    else:
        model = inputs.models[0].get("model")
        assert model is not None
        elsewhere = _gateway_only(inputs.models[0].value("backend")) or inputs.models[0].get("api_base") is not None
        base = model.value if elsewhere else Path(model.value.rstrip("/")).name or model.value
        name = Sourced(checks.slugify(base.removesuffix(".gguf").split("/")[-1]), derived("the model's name"))
    if not SERVICE_RE.match(name.value):
        raise InputError(f"{name.label(repr(name.value))}: use lowercase letters, digits, '-' and '_' "
                         f"(e.g. {checks.slugify(name.value)!r})")
    inputs.settings.get("description")  # documentation only: read, so never unused
    return name


def output_dir(inputs: Inputs, name: str, target: str) -> Path:
    """Stage 4: where the directory is written (relative model paths are written relative to it, and
    an earlier render's manifest there stands in for weights that are not on this host)."""
    given = inputs.opts.get("output")
    return Path(given) if given else Path("compose") / f"{name}{TARGETS[target].suffix}"


def gateway_spec(settings: Layers, litellm_image: str | None) -> LitellmSpec | None:
    """Stage 5: the LiteLLM gateway (None with --no-litellm: its settings are then skipped)."""
    if not settings.value("litellm.enabled"):
        settings.skip("litellm.", "claude")
        return None
    workers = settings.get("litellm.num_workers")
    if workers is not None:
        checks.at_least_one(workers, checks.MAX_WORKERS)
    shares = checks.cpu_shares(settings.get("litellm.cpu_shares"))
    port = settings.get("litellm.port")
    assert port is not None
    if litellm_image is not None:  # used as is: the stack's repository and tag do not apply
        settings.skip("litellm.version", "litellm.image")
        image = checks.image(Sourced(litellm_image, flag("--litellm-image")))
    else:
        version, repository = settings.get("litellm.version"), settings.get("litellm.image")
        assert version is not None and repository is not None
        checks.tag(version)
        image = checks.image(Sourced(f"{repository.value}:{version.value}", repository.origin))
    return LitellmSpec(image=image, port=checks.port(port), num_workers=workers.value if workers else None,
                       cpu_shares=shares)


def claude_routes(inputs: Inputs, litellm: LitellmSpec | None, models: Sequence[ModelSpec]) -> LitellmSpec | None:
    """Stage 9: Claude Code's model tiers routed to the stack's aliases (`claude:` of the stack)."""
    if litellm is None:
        return None
    tiers = inputs.settings.get("claude")
    mapping = {str(k): v for k, v in tiers.value.items()} if tiers is not None else None
    routes = gateway.claude_routes([m.alias for m in models], mapping,
                                   lambda tier: inputs.config.origin("stacks", inputs.stack_name, "claude", tier))
    return replace(litellm, claude_routes=routes)


def claude_context_notices(models: Sequence[ModelSpec], litellm: LitellmSpec | None, single: bool) -> list[str]:
    """Claude Code sends tens of thousands of tokens per request: say so for the models it uses."""
    used = {alias for _, alias in (litellm.claude_routes if litellm else ())}
    notices = []
    for model in models:
        context = model.max_model_len or model.context_limit
        if model.alias not in used or not context:
            continue
        how = "--max-model-len" if single else f"max_model_len on the model {model.alias!r} in models.yaml"
        advice = gateway.context_advice(model.alias, context, model.context_limit, how)
        if advice:
            notices.append(advice)
    return notices


def check_uniqueness(models: Sequence[ModelSpec], litellm: LitellmSpec | None, network: str) -> None:
    """Stage 7: aliases, service names and published ports are each used once."""
    aliases = [m.alias for m in models]
    for alias in aliases:
        if aliases.count(alias) > 1:
            raise InputError(f"alias {alias!r} is used by two models; give each model its own alias")
    services = [m.service for m in models if m.service]
    for service in services:
        if services.count(service) > 1 or service == "litellm":
            raise InputError(f"service name {service!r} is used twice; set a distinct `service:`")
    local = [m for m in models if m.service]
    published = [m for m in local if network == "host" or m.publish_port]
    if litellm is not None:
        for m in published:
            if m.port == litellm.port:
                raise InputError(f"--litellm-port {litellm.port} equals the port of backend {m.service!r}; "
                                 "pick another --litellm-port (or --port for the backend)")
    ports = [m.port for m in local]
    for m in published:
        if ports.count(m.port) > 1:
            raise InputError(f"port {m.port} is used by two backends on the host; give each model its own `port:`")
