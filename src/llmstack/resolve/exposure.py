"""What the stack exposes beyond this host, and the backends' own key (issue 16, "Exposure").

A backend the stack runs is reachable beyond this host when its port is published
(`--publish-backend`, or by default with `--no-litellm`) on an address that is not loopback
(`--bind 0.0.0.0`, `::` or a LAN address), on either network (bridge: Compose publishes the port;
host: the server listens on that address itself). Unkeyed, it would serve anyone who reaches the
address. So such a backend requires a key of its own: `LLMSTACK_BACKEND_KEY`, generated into `.env`
by render like the master key, handed to the server through its environment (never its command
line), and sent by the gateway (`litellm_params.api_key: os.environ/LLMSTACK_BACKEND_KEY`). A
server that takes no key (TensorRT-LLM) is refused there, naming why.

On Kubernetes the backends' Services are cluster-internal, and with the gateway a NetworkPolicy
admits only its pods. But a NetworkPolicy is enforced only by CNIs that implement it (many small
clusters run one that does not), and without the gateway there is none: any pod of the cluster
reaches the Service. So every backend that can take a key is keyed there too; TensorRT-LLM, which
cannot, keeps only the NetworkPolicy (its rendered comment says so).

A backend bound to loopback (the default), or not published at all (reached by the gateway over
the stack's own network), needs no key: nothing beyond this host reaches it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import replace

from llmstack import backends
from llmstack.errors import InputError
from llmstack.paths import BACKEND_KEY
from llmstack.provenance import Layers, Sourced
from llmstack.spec import ModelSpec


def beyond_loopback(address: str) -> bool:
    """Whether a host address (an IP, as `--bind` takes) reaches beyond this machine."""
    return not ipaddress.ip_address(address).is_loopback


def _published_by(lookup: Layers) -> str:
    found = lookup.get("publish_port")
    return found.origin.describe() if found is not None else "--no-litellm"


def key_backends(models: Sequence[ModelSpec], lookups: Sequence[Layers], bind: Sourced[str], cluster: bool,
                 gateway: bool, notices: list[str]) -> list[ModelSpec]:
    """Each model with `backend_key` set where its backend must require a key; refused where it
    would be published beyond this host and cannot take one."""
    fence = ("the NetworkPolicy that admits only the gateway's pods is enforced only by CNIs that implement it"
             if gateway else "without the gateway no NetworkPolicy is rendered: every pod of the cluster reaches it")
    keyed = []
    for model, lookup in zip(models, lookups, strict=True):
        if not model.service:  # served elsewhere: its key, if any, is --api-key-env's
            keyed.append(model)
            continue
        backend = backends.get(model.backend)
        if cluster:
            why = f"its Service is cluster-internal, but {fence}"
        elif model.publish_port and beyond_loopback(bind.value):
            why = f"published beyond this host on {bind.value}:{model.port} ({bind.origin.describe()}; " \
                  f"published by {_published_by(lookup)})"
            if not backend.keyable:
                raise InputError(
                    f"{bind.label()}: would publish {backend.title} (service {model.service!r}, published by "
                    f"{_published_by(lookup)}) beyond this host, but {backend.title} takes no API key, so anyone on "
                    f"the network could use it; publish it on 127.0.0.1 (the default --bind) and reach it through "
                    f"the gateway, or put an authenticating proxy of your own in front")
        else:
            keyed.append(model)
            continue
        if not backend.keyable:  # on a cluster: its Service and the NetworkPolicy are all there is
            why = f"none: {backend.title} takes no API key, and {fence}"
            if not gateway:
                notices.append(f"{model.service}: {backend.title} takes no API key, and without the gateway no "
                               "NetworkPolicy is rendered: every pod of the cluster can use it")
            keyed.append(replace(model, origins={**model.origins, "backend_key": why}))
            continue
        keyed.append(replace(model, backend_key=BACKEND_KEY, origins={**model.origins, "backend_key": why}))
    return keyed
