"""external: a model another OpenAI-compatible server already serves; the stack runs no container
for it, only the gateway route.

`--backend external --api-base http://gpu-host-1:8000/v1 --model NAME` routes the alias to the
model NAME served there. Several `--api-base` values are replicas of one alias: LiteLLM's router
balances across them and routes around one that fails (router settings: gateway.py). A key
for the upstream server comes from an environment variable named with `--api-key-env` (its value
lives in `.env`, never in a rendered file). So several GPU hosts, each running a backend-only
stack (`--no-litellm`, which publishes the backend), serve one alias behind one gateway.
"""

from __future__ import annotations

from llmstack.backends.base import Backend, Defaults, Features


class External(Backend):
    name = "external"
    title = "external server"
    defaults = Defaults(image="", version="", port=0)
    features = Features(tools="as the server offers", vision="as the server offers")
    formats = frozenset({"name"})
    auto_for = frozenset({"name"})
    runs_service = False
    tensor_parallel = False
    template_engine = None  # the model's files are elsewhere: `adapt:` in models.yaml says what it needs
    # Nothing is known about the upstream server: translated, unless `--anthropic-route native`
    # (or `anthropic_route: native` in models.yaml) says it serves /v1/messages well.

    def tools_without_parser(self):
        return True  # the upstream server decides; the gateway passes tools through

    def command(self, model, host):  # pragma: no cover - never called: no container
        raise NotImplementedError("an external backend runs no container")


BACKEND = External()
