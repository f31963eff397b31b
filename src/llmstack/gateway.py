"""The LiteLLM gateway: its built-in defaults, and the routes it serves (pure).

Every model of a stack is one alias. A backend-owned route (`hosted_vllm/<served-name>` at the
backend's `/v1`) serves OpenAI and Anthropic requests alike. Several upstream servers for one
alias (`--backend external --api-base A --api-base B`) are replicas: one `model_list` entry
each under the same `model_name`, which LiteLLM's router balances and routes around when one
fails. Claude Code asks for `claude-opus-*`, `claude-sonnet-*` and `claude-haiku-*` model names:
each stack answers them with its default alias, or the alias `claude:` in models.yaml names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from llmstack.errors import InputError
from llmstack.provenance import Origin


@dataclass(frozen=True)
class GatewayDefaults:
    image: str
    version: str
    port: int
    alias: str
    num_workers: int | None


# Proven end to end (tests/e2e): the LiteLLM proxy at this version, from PyPI, in the e2e image.
DEFAULTS = GatewayDefaults(image="ghcr.io/berriai/litellm", version="main-v1.104.5", port=4000,
                           alias="local-model", num_workers=2)

CLAUDE_TIERS = ("opus", "sonnet", "haiku")


def pinned_version() -> str:
    """The LiteLLM release the default tag pins (`main-v1.104.5` -> `1.104.5`)."""
    return DEFAULTS.version.removeprefix("main-").removeprefix("v").removesuffix("-stable")


def claude_routes(aliases: Sequence[str], mapping: Mapping[str, str] | None,
                  origin_of: Callable[[str], Origin]) -> tuple[tuple[str, str], ...]:
    """(model name pattern, alias) for Claude Code's three tiers: the first alias unless mapped."""
    if not aliases:
        return ()
    routes = []
    for tier in CLAUDE_TIERS:
        alias = (mapping or {}).get(tier, aliases[0])
        if alias not in aliases:
            raise InputError(
                f"{origin_of(tier).label(alias)}: no model of this stack has that alias "
                f"(aliases: {', '.join(aliases)})"
            )
        routes.append((f"claude-{tier}-*", alias))
    return tuple(routes)
