"""What a model's stages pass along (Draft), what every model shares (Context), and the stages
both a model the stack runs and one served elsewhere go through: the Anthropic and Responses
routes, and what the gateway does to agents' requests (the chat template check)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmstack.backends.base import Backend, EngineFacts, ImageChoice
from llmstack.errors import InputError
from llmstack.manifest import RecordedModel, TemplateCheck
from llmstack.paths import LITELLM_FILE
from llmstack.provenance import Layers, Sourced
from llmstack.sources import ModelSource
from llmstack.spec import GpuSpec, Mount


@dataclass
class Draft:
    """One model on its way to a ModelSpec: what the stages decided so far, and why."""

    index: int
    single: bool
    lookup: Layers
    source: ModelSource
    backend: Backend
    engine: EngineFacts
    origins: dict[str, str]
    args: dict[str, Any] = field(default_factory=dict)
    alias: str = ""
    gpus: GpuSpec = field(default_factory=lambda: GpuSpec(kind="all"))
    gpus_given: Sourced[Any] | None = None
    tensor_parallel: int | None = None
    max_model_len: int | None = None
    tool_parser: str | None = None
    reasoning_parser: str | None = None
    service: str = ""
    mounts: tuple[Mount, ...] = ()
    model_arg: str = ""
    mmproj_arg: str | None = None
    vision: tuple[bool, str] = (False, "")
    image: str = ""
    image_choice: ImageChoice | None = None  # a catalogued release's image (None: an image given as is)
    switches: tuple[str, ...] = ()
    template: TemplateCheck | None = None
    adapt: tuple[str, ...] = ()


@dataclass(frozen=True)
class Context:
    """What every model's stages share: where the stack is written, whether it has a gateway, what
    an earlier render recorded of its models, and the environment (the Hugging Face cache)."""

    output_dir: Path
    gateway_on: bool
    recorded: Mapping[str, RecordedModel]
    env: Mapping[str, str]
    notices: list[str]
    cluster: bool = False  # a Kubernetes render: this host's GPUs and driver say nothing about the nodes


def anthropic_route(draft: Draft) -> bool:
    """True when the gateway hands Anthropic /v1/messages requests to the backend untranslated; the
    version decides whether it serves them (unknown for an image given as is)."""
    asked, engine, backend = draft.lookup.get("anthropic_route"), draft.engine, draft.backend
    what = f"{backend.title} {engine.version}" if engine.version else backend.title
    if asked is None:
        if engine.serves_messages is False:
            draft.origins["anthropic_route"] = f"{what} has no /v1/messages; it came in {engine.messages_since}"
        else:
            draft.origins["anthropic_route"] = engine.route_why or f"the default for {what}"
        return engine.anthropic_route == "native"
    if asked.value not in ("native", "translated"):
        raise InputError(f"{asked.label()}: choose native (the backend's own /v1/messages) or translated "
                         "(LiteLLM turns Anthropic requests into chat completions)")
    if asked.value == "native" and engine.serves_messages is False:
        raise InputError(f"{asked.label()}: {what} has no /v1/messages (served since {engine.messages_since}); "
                         "pick a later --backend-version or drop the setting")
    draft.origins["anthropic_route"] = asked.origin.describe()
    return asked.value == "native"


CHECKED = "switched on by the render's check of its chat template,"  # the origin of switches the template check chose


def responses_route(draft: Draft) -> bool:
    """True when the gateway hands OpenAI /v1/responses (Codex) to the backend's own endpoint;
    the default is LiteLLM's bridge to the backend's chat completions (`use_chat_completions_api`),
    which every engine version serves and which maps Codex's custom tools to function tools."""
    asked = draft.lookup.get("responses_route")
    if asked is None:
        draft.origins["responses_route"] = "the default"
        return False
    if asked.value not in ("native", "translated"):
        raise InputError(f"{asked.label()}: choose native (the backend's own /v1/responses) or translated "
                         "(LiteLLM's bridge to chat completions)")
    draft.origins["responses_route"] = asked.origin.describe()
    return asked.value == "native"


def agent_requests(draft: Draft, context: Context) -> None:
    """What the model's chat template makes of the requests Claude Code and Codex send (run now,
    or as recorded when the model is not on this host), and so which of the gateway hook's
    switches the alias gets: `adapt:` in models.yaml when given, else the check's."""
    from llmstack.model import template

    recorded = context.recorded.get(draft.source.text)
    draft.template = _template_check(draft, recorded.template if recorded is not None else None)
    given = draft.lookup.get("adapt")
    if given is not None:
        value = given.value
        if value != "none" and (not isinstance(value, list) or any(v not in template.SWITCHES for v in value)):
            raise InputError(f"{given.label(value)}: a list of the gateway hook's switches "
                             f"({', '.join(template.SWITCHES)}), or none")
        draft.adapt = () if value == "none" else tuple(s for s in template.SWITCHES if s in value)
        draft.origins["adapt"] = given.origin.describe()
    elif draft.template is not None and draft.template.adaptations:
        draft.adapt = (template.STRIP_BILLING,
                       *(s for s in template.SWITCHES if s in draft.template.adaptations))
        draft.origins["adapt"] = f"{CHECKED} {draft.template.origin}"
    context.notices.extend(_template_notices(draft))


def _template_check(draft: Draft, recorded: TemplateCheck | None) -> TemplateCheck | None:
    from llmstack.model import template

    engine, source = draft.backend.template_engine, draft.source
    if engine is None:
        return None
    extra = draft.lookup.value("extra_args", ()) or ()
    flag = next((str(a) for a in extra if str(a).split("=", 1)[0] in template.CHAT_TEMPLATE_FLAGS), None)
    if flag is not None:
        return template.unchecked(engine, f"{flag.split('=', 1)[0]} gives the backend another chat template: "
                                          "not checked")
    if source.from_manifest:
        if recorded is not None and recorded.engine == engine:
            return recorded
        return template.unchecked(engine, f"the model is not on this host and the manifest records no check for "
                                          f"{engine}'s rendering: not checked")
    if source.facts.chat_template is None and source.facts.format == "unknown":
        return template.unchecked(engine, "the model's files were not read (not on this host): its chat template "
                                          "was not checked")
    return template.check(source.facts.chat_template, engine, recorded)


def _template_notices(draft: Draft) -> list[str]:
    from llmstack.model import template

    found, alias = draft.template, draft.alias
    if found is None:
        return []
    notices = []
    if found.notes:
        notices.append(f"{alias}: {found.notes[0]}; the gateway passes agents' requests as sent (`adapt:` in "
                       "models.yaml changes that)")
    cannot = template.unfixable(found)
    if cannot:
        notices.append(f"{alias}: its chat template refuses {', '.join(cannot)} ({found.refused[cannot[0]][:80]}), "
                       "which the gateway cannot adapt: agents may fail on this model")
    if found.adaptations and draft.origins.get("adapt", "").startswith(CHECKED):
        refused = [s for s in found.refused if s not in cannot]
        notices.append(f"{alias}: its chat template refuses {', '.join(refused)}; the gateway adapts those "
                       f"requests ({', '.join(found.adaptations)}: see {LITELLM_FILE})")
    return notices
