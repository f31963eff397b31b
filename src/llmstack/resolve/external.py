"""The stages of a model another server already serves (a gateway-only backend): the gateway's
route to it, one URL per replica, and its key from `.env`; everything else is that server's."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from llmstack.errors import InputError
from llmstack.paths import MASTER_KEY
from llmstack.provenance import Layers, Sourced
from llmstack.resolve.draft import Draft, anthropic_route
from llmstack.sources import ModelSource
from llmstack.spec import GpuSpec, ModelSpec

ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
URL = re.compile(r"https?://[^\s/]+(/\S*)?")

# What a server the stack does not run decides by itself.
DECIDED_ELSEWHERE = ("gpus", "tensor_parallel", "max_model_len", "tool_parser", "reasoning_parser", "mmproj", "image",
                     "version", "cuda", "port", "extra_args", "replicas")


def external_model(draft: Draft, gateway_on: bool) -> ModelSpec:
    """A model another server already serves: only the gateway's route to it (replicas: several URLs)."""
    lookup, source = draft.lookup, draft.source
    if not gateway_on:
        raise InputError(f"{source.given.label()}: an external model is only reachable through the gateway; "
                         "drop --no-litellm")
    urls = _api_bases(lookup, source)
    draft.origins["api_base"] = lookup.get("api_base").origin.describe()  # type: ignore[union-attr]
    key_env = lookup.get("api_key_env")
    if key_env is not None and not ENV_NAME.fullmatch(str(key_env.value)):
        raise InputError(f"{key_env.label(repr(key_env.value))}: an environment variable name (A-Z, 0-9, _), "
                         "e.g. UPSTREAM_API_KEY")
    if key_env is not None:
        _check_key_name(key_env)
    for key in (*DECIDED_ELSEWHERE, *lookup.keys("args.")):
        found = lookup.get(key)
        if found is not None and found.origin.from_user:
            raise InputError(f"{found.label()}: the external server decides this; drop it for --backend external")
    native = anthropic_route(draft)
    vision = lookup.get("vision")
    return ModelSpec(
        service="", alias=draft.alias, backend=draft.backend.name, display_name=source.text,
        served_name=source.text, model_arg=source.text, image="", port=0, gpus=GpuSpec(kind="none"), tools=True,
        vision=bool(vision.value) if vision is not None else False,
        vision_source="set by `vision:` in models.yaml" if vision is not None else "an external server: "
                      "set `vision: true` in models.yaml if it serves images",
        api_bases=tuple(urls), api_key_env=str(key_env.value) if key_env is not None else None,
        native_messages=native, origins=draft.origins,
    )


# Names an upstream key may not take: what the gateway's own environment already holds, and what
# Compose itself reads from `.env` (COMPOSE_FILE, COMPOSE_PROJECT_NAME, ... change the project).
_GATEWAY_OWN = {MASTER_KEY: "the gateway's own master key: it would be sent to the upstream server",
                "LITELLM_LOCAL_MODEL_COST_MAP": "set by llmstack in the gateway's environment",
                "LITELLM_LOG": "set by llmstack in the gateway's environment"}


def _check_key_name(key_env: Sourced[Any]) -> None:
    name = str(key_env.value)
    why = _GATEWAY_OWN.get(name) or ("read by Compose itself from .env (it changes the project)"
                                      if name.startswith(("COMPOSE_", "DOCKER_")) else None)
    if why:
        raise InputError(f"{key_env.label()}: {why}; name the variable holding the upstream server's key "
                         "something else, e.g. UPSTREAM_API_KEY")


def _api_bases(lookup: Layers, source: ModelSource) -> list[str]:
    bases = lookup.get("api_base")
    if bases is None:
        raise InputError(f"{source.given.label()}: --backend external needs --api-base URL (where the model is "
                         "served, e.g. http://gpu-host-1:8000/v1; repeat it for replicas)")
    checked = [_check_api_base(bases, str(url)) for url in (bases.value if isinstance(bases.value, list)
                                                              else [bases.value])]
    twice = next((url for n, url in enumerate(checked) if url in checked[:n]), None)
    if twice is not None:
        raise InputError(f"{bases.label(repr(twice))}: the same URL twice; each replica needs its own --api-base")
    return checked


_SECRET_QUERY = re.compile(r"(^|&)[^=&]*(key|token|secret|passw|auth|sig)[^=&]*=", re.IGNORECASE)


def _check_api_base(bases: Sourced[Any], url: str) -> str:
    """An http(s) URL without credentials: they would land in committed files (the key goes in
    .env, named with --api-key-env). The error shows the URL with any password blanked out."""
    if not URL.fullmatch(url):
        raise InputError(f"{bases.label(repr(redact_url(url)))}: not an http(s) URL; e.g. http://gpu-host-1:8000/v1")
    parts = urlsplit(url)
    if "@" in parts.netloc or _SECRET_QUERY.search(parts.query):
        raise InputError(
            f"{bases.label(repr(redact_url(url)))}: credentials in a URL would be written into the committed "
            "files; give the URL without them and put the key in .env, named with --api-key-env NAME")
    return url.rstrip("/")


def redact_url(url: str) -> str:
    """`url` with the user info and secret-looking query values replaced by `***`."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = re.sub(r"((?:^|&)[^=&]*(?:key|token|secret|passw|auth|sig)[^=&]*=)[^&]*", r"\1***", parts.query,
                   flags=re.IGNORECASE)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def refuse_api_base(draft: Draft) -> None:
    bases = draft.lookup.get("api_base")
    if bases is not None:
        first = bases.value[0] if isinstance(bases.value, list) else bases.value
        raise InputError(f"{bases.label(first)}: {draft.backend.title} runs in this stack; --api-base is for "
                         "--backend external")
