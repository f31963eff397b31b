"""The LiteLLM gateway: its built-in defaults, and the routes it serves (pure).

Every model of a stack is one alias. A backend-owned route (`hosted_vllm/<served-name>` at the
backend's `/v1`) serves OpenAI and Anthropic requests alike. Several upstream servers for one
alias (`--backend external --api-base A --api-base B`) are replicas: one `model_list` entry
each under the same `model_name`, which LiteLLM's router balances and routes around when one
fails. Claude Code asks for `claude-opus-*`, `claude-sonnet-*` and `claude-haiku-*` model names:
each stack answers them with its default alias, or the alias `claude:` in models.yaml names; so
does Claude Code 2.1.332's fourth tier, `claude-fable-*`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from llmstack import catalog
from llmstack.errors import InputError
from llmstack.provenance import Origin


@dataclass(frozen=True)
class GatewayDefaults:
    image: str
    version: str
    port: int
    alias: str
    num_workers: int | None
    cpu_shares: int | None


# The pin: the catalogued LiteLLM release (the newest 1.108.x LTS patch whose `litellm[proxy]`
# installs from our package index: catalog-facts.md section 6), in LiteLLM's published tag scheme
# `v1.X.Y` (since 1.84; the `main-v*` tags are no longer published). Proven end to end (tests/e2e):
# the e2e image installs this same version from PyPI (`pinned_version()`).
# One worker (benchmarks/RESULTS.md, "Gateway levers", rows "2 workers"): a second one did not raise
# what the gateway keeps of the engine's tokens/s on 2 cores beyond this host's noise, tripled the idle
# memory and made the start 3-6x longer; on a busy 2-core host uvicorn re-spawned workers that were
# still importing LiteLLM, and the gateway never became ready (issue 16; seen again here: a rendered
# vLLM stack with 2 workers was not ready after 6 minutes at load 25, with 1 worker in under 3).
# CPU weight 8192 (Compose `cpu_shares`; a container's is 1024 by default): the gateway's Python runs
# for every streamed chunk *while* the engine decodes, and at equal weight its work waits for the
# engine's threads, so the first token is late and the rest leave in bursts (benchmarks/PROFILE.md,
# "Time to first token"). Measured on the real vLLM CPU build (benchmarks/RESULTS.md, "Time to first
# token through the gateway"): +173 ms TTFT at 1024, +18 ms at 8192, +17 ms at 262144 (the most). The
# weight only matters while the CPU is contended, and the gateway's work is what the client waits for.
DEFAULTS = GatewayDefaults(image="ghcr.io/berriai/litellm", version=catalog.versions("litellm")[-1], port=4000,
                           alias="local-model", num_workers=1, cpu_shares=8192)

# Claude Code's model tiers: `claude-<tier>-*` model names (2.1.332: opus, sonnet, haiku, fable).
CLAUDE_TIERS = ("opus", "sonnet", "haiku", "fable")
MIN_CONTEXT = 64 * 1024  # tokens; Claude Code's system prompt and tools alone take 20-30k


@dataclass(frozen=True)
class RouterSetting:
    key: str
    value: object
    why: tuple[str, ...]  # comment lines above it in litellm-config.yaml


# A stack where some alias has several deployments (replicas, `--api-base` given more than once).
# MEASURED end to end at the pinned LiteLLM (tests/e2e/test_replicas.py; README "Several GPU hosts
# behind one gateway"): one of two hosts taken down under steady traffic from both SDKs, 0 failed
# of 4,499 requests in 12 runs; the host back in traffic 1.3-3.9 s after it answered again. With
# LiteLLM's own defaults 8 of 347 failed (allowed_fails 3 counts as unset: a replica is left out
# only once most of its requests that minute failed); without enable_weighted_failover 17 of 161
# failed on Claude Code's wildcard routes, which LiteLLM never cools down (and 1 of 715 others).
REPLICA_ROUTER = (
    RouterSetting("routing_strategy", "simple-shuffle", ("Each request goes to a replica picked at random.",)),
    RouterSetting("num_retries", 2, ("A request that fails is retried at once, each time on a replica picked anew.",)),
    RouterSetting("retry_after", 0, ("No pause before a retry: another replica is likely healthy.",)),
    RouterSetting("allowed_fails", 1, (
        "A replica that fails more than once is left out for cooldown_time seconds (LiteLLM takes 3,",
        "its default, for unset: then only a replica failing most of its requests in a minute is).",
    )),
    RouterSetting("cooldown_time", 5, (
        "Then it is tried again, and the try is retried elsewhere if it fails: a replica that comes",
        "back takes traffic again within this many seconds.",
    )),
    RouterSetting("enable_weighted_failover", True, (
        "A request whose retries all failed is sent to a replica it has not tried yet. Claude Code's",
        "claude-*-* routes need this: LiteLLM never leaves out a replica of a wildcard route.",
    )),
)

# Every alias has one deployment: a cooldown after an error would only turn it into 429s.
SINGLE_ROUTER = (
    RouterSetting("disable_cooldowns", True, (
        "One deployment per alias: a cooldown after an error would only turn it into 429s.",
    )),
)


def pinned_version() -> str:
    """The LiteLLM release the default tag pins (`v1.108.7` -> `1.108.7`; an older `main-v1.104.5` too)."""
    return DEFAULTS.version.removeprefix("main-").removeprefix("v").removesuffix("-stable")


def claude_routes(aliases: Sequence[str], mapping: Mapping[str, str] | None,
                  origin_of: Callable[[str], Origin]) -> tuple[tuple[str, str], ...]:
    """(model name pattern, alias) for each of Claude Code's tiers: the first alias unless mapped."""
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


def context_advice(alias: str, context: int, limit: int | None, how: str) -> str | None:
    """One line when a context is too small for Claude Code, saying how to raise it."""
    if context >= MIN_CONTEXT:
        return None
    if limit is not None and limit < MIN_CONTEXT:
        fix = f"the model's own limit is {limit} tokens: serve a model with a longer context for Claude Code"
    else:
        cap = f"at most the model's own limit, {limit}" if limit else "the model's own limit caps it"
        fix = f"raise it with {how} {MIN_CONTEXT} or more ({cap})"
    return (f"{alias}: a {context}-token context is below the {MIN_CONTEXT // 1024}k tokens Claude Code needs "
            f"(its system prompt and tools alone take 20-30k); {fix}")
