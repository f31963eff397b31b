"""What every target renders alike, and the checks on it: the comments that say why a model's
values are what they are, the LiteLLM config (its entries laid out from a target's addressing of
the backends), the gateway's request hook, `.gitignore` and the manifest, and parsing rendered
text back (one YAML loader). Targets import this module; it imports no target.
"""

from __future__ import annotations

import json
import tokenize
from collections.abc import Callable
from functools import cache
from io import BytesIO
from typing import Any

from llmstack import backends, manifest, stamp, yamlio
from llmstack.errors import RenderError
from llmstack.escaping import Block
from llmstack.gateway import REPLICA_ROUTER, SINGLE_ROUTER
from llmstack.model.template import SWITCH_DOES, reasons
from llmstack.paths import (
    ENV_EXAMPLE,
    GITIGNORE,
    HOOK_FILE,
    LITELLM_FILE,
    MANIFEST,
    MASTER_KEY,
    STARTUP_FILE,
    hook_source,
    startup_source,
)
from llmstack.spec import ModelSpec, StackSpec
from llmstack.targets import jinja

# How a target addresses a backend the stack runs: its URL for the gateway, its name in comments.
Address = Callable[[ModelSpec], str]


def decisions(model: ModelSpec) -> list[str]:
    """Why the values that depend on the model are what they are (comment lines)."""
    lines = []
    origins = model.origins
    engine = model.engine
    if engine is not None and engine.version:
        title = backends.get(model.backend).title
        needs = f"CUDA {engine.cuda}" if engine.cuda else ("the CPU" if engine.kind == "cpu" else
                                                           "CUDA (the catalogue records no version)")
        if engine.min_driver:
            needs += f", NVIDIA driver >= {engine.min_driver}"
        if engine.cpu_features:
            needs += f", a CPU with {' + '.join(engine.cpu_features)}"
        lines.append(f"Image: {title} {engine.version}, {origins.get('image', 'default')}; built for {needs}.")
    if model.max_model_len:
        lines.append(f"Context {model.max_model_len} tokens: {origins.get('max_model_len', 'default')}.")
    if model.tensor_parallel and model.tensor_parallel > 1:
        lines.append(f"Tensor parallel {model.tensor_parallel}: {origins.get('tensor_parallel', '')}.")
    if model.tool_parser:
        lines.append(f"Tool-call parser {model.tool_parser}: {origins.get('tool_parser', '')}.")
    if model.reasoning_parser:
        lines.append(f"Reasoning parser {model.reasoning_parser}: {origins.get('reasoning_parser', '')}.")
    if model.switches:
        lines.append(f"Switches {origins.get('switches', ' '.join(model.switches))}.")
    interval = model.args.get("stream_interval")
    if interval is not None:
        lines.append(f"Streams {interval} token{'s' if interval != 1 else ''} per chunk after the first: "
                     f"{origins.get('args.stream_interval', 'default')}; the gateway works per chunk "
                     "(benchmarks/RESULTS.md, \"Gateway path\").")
    if "memory_share" in origins:
        lines.append(f"GPU memory share: {origins['memory_share']}.")
    if model.plan is not None:
        first, *rest = model.plan.lines()
        lines += [f"Memory plan: {first};", *(f"  {line}." for line in rest)]
    if model.backend_key:
        lines.append(f"API key {model.backend_key} from .env (every request but the health probe carries it): "
                     f"{origins.get('backend_key', '')}.")
    elif "backend_key" in origins:
        lines.append(f"API key: {origins['backend_key']}.")
    if model.kv_cache_gib is not None:
        lines.append(f"KV cache on the CPU: {model.kv_cache_gib} GiB ({origins.get('kv_cache', '')}).")
    return lines


def header_context(stack: StackSpec) -> dict[str, Any]:
    """What the header every rendered file starts with needs."""
    return {"stack": stack, "regen_command": stack.regen_command.replace("\n", " "),
            "hash_placeholder": stamp.PLACEHOLDER}


# ---- the LiteLLM config ----------------------------------------------------------------------------

# LiteLLM hands /v1/messages untranslated to a deployment whose model_info lists it (verified
# with 1.104.5, also for hosted_vllm/ routes and under use_chat_completions_url_for_anthropic_messages).
NATIVE_ENDPOINTS = ["/v1/chat/completions", "/v1/messages"]
# The gateway hook: the model_info key it reads per alias, and what `litellm_settings.callbacks`
# names (LiteLLM imports `<config dir>/llmstack_hook.py`: proxy/types_utils/utils.py get_instance_fn,
# 1.104.5 and 1.108.14).
HOOK_SETTING = "llmstack_adapt"
HOOK_CALLBACK = HOOK_FILE.removesuffix(".py") + ".proxy_handler_instance"


def _deployments(model: ModelSpec, api_base: Address) -> list[dict[str, Any]]:
    """The litellm_params of every deployment serving one model (one per replica)."""
    route = f"{backends.get(model.backend).litellm_route}/{model.served_name}"
    deployments = []
    for base in list(model.api_bases) or [api_base(model)]:
        params: dict[str, Any] = {"model": route, "api_base": base}
        key = model.api_key_env or model.backend_key  # an external server's, or the backend's own
        if key:
            params["api_key"] = f"os.environ/{key}"
        if not model.native_responses:
            params["use_chat_completions_api"] = True
        deployments.append(params)
    return deployments


# A model the stack serves itself costs nothing per token: every rate LiteLLM uses set to an explicit
# 0 marks it free (litellm 1.108.7, litellm_core_utils/llm_cost_calc/zero_cost_diagnostic.py: "set
# every rate to 0 to mark the model free"), which also makes its cost bookkeeping after each request
# cheaper. MEASURED (benchmarks/RESULTS.md, "Gateway levers", rows "zero prices"): 8-27% less gateway
# CPU per streamed token, what the gateway keeps of the engine's tokens/s up in 3 of 4 scenarios.
# Not for external servers: what they charge is not ours to say.
FREE = {"input_cost_per_token": 0, "output_cost_per_token": 0}


def _model_info(model: ModelSpec) -> dict[str, Any]:
    info: dict[str, Any] = {"supports_function_calling": model.tools, "supports_vision": model.vision}
    if model.native_messages:
        info["supported_endpoints"] = NATIVE_ENDPOINTS
    if model.adapt:
        info[HOOK_SETTING] = list(model.adapt)
    if model.service:
        info.update(FREE)
    return info


def _route_comment(model: ModelSpec, title: str) -> str:
    why = model.origins.get("anthropic_route", "")
    if model.native_messages:
        return f"Anthropic requests: passed untranslated to {title}'s own /v1/messages ({why})."
    return f"Anthropic requests: translated into chat completions ({why})."


def _responses_comment(model: ModelSpec, title: str) -> list[str]:
    why = model.origins.get("responses_route", "the default")
    if model.native_responses:
        return [f"OpenAI /v1/responses (Codex): passed to {title}'s own /v1/responses ({why})."]
    return ["OpenAI /v1/responses (Codex): LiteLLM's bridge to chat completions (use_chat_completions_api,",
            f"{why}): every engine version serves those; Codex's custom tools become function tools and back."]


def _template_comments(model: ModelSpec) -> list[str]:
    """Why the alias's requests are adapted or not: its chat template's check, switch by switch.
    One line per switch and per reason (values never change how many lines there are)."""
    found = model.template
    if model.adapt:
        why = reasons(found, model.adapt) if found is not None else {}
        lines = [f"llmstack's gateway hook ({HOOK_FILE}) adapts this alias's requests on every route,",
                 f"{model.origins.get('adapt', '')}:"]
        for switch in model.adapt:
            lines.append(f"  {switch} {SWITCH_DOES[switch]}" + (";" if switch in why else "."))
            if switch in why:
                lines.append(f"    {why[switch]}.")
        return lines
    if found is None:
        return ["Chat template unknown (served elsewhere): requests pass as sent; `adapt:` in models.yaml",
                "switches llmstack's gateway hook on for them."]
    if found.notes:
        return [f"Chat template: {found.notes[0]}.",
                "Requests pass as sent; `adapt:` in models.yaml switches llmstack's gateway hook on for them."]
    if found.refused:
        return [f"Chat template ({found.origin}): refuses {', '.join(found.refused)},",
                "which no switch of llmstack's gateway hook adapts: requests pass as sent."]
    return ["Chat template: accepts every request shape Claude Code and Codex send (checked at render,",
            f"{found.engine} rendering of {found.origin}): requests pass as sent."]


def _entry(stack: StackSpec, model: ModelSpec, params: dict[str, Any], n: int, count: int, alone: bool,
           service: Address) -> dict[str, Any]:
    """One model_list entry of a model's deployment, with the comments above it."""
    backend = backends.get(model.backend)
    where = f"replica {n + 1} of {count}: " if count > 1 else ""
    what = (f"{backend.title} serving {model.display_name} (service {service(model)})" if model.service
            else f"{model.display_name!r} served at {params['api_base']}")
    comments = [f"{where}{what}."]
    if n == 0 and model is stack.models[0]:
        comments += [f"{backend.litellm_route}/ speaks the backend's /v1/chat/completions for OpenAI and Anthropic",
                     "requests alike (the plain openai/ route sends Anthropic requests to /v1/responses),",
                     "unless model_info lists /v1/messages: then Anthropic requests pass through untranslated."]
    if n == 0:
        comments += _responses_comment(model, backend.title)
    if alone:
        comments += ["cooldown_time 0: its only deployment is never left out (that would only turn an error",
                     "into 429s), whatever router_settings say for the replicated aliases."]
    return {"model_name": model.alias, "comments": comments, "params": params, "info": _model_info(model),
            "info_comments": [
                f"{backend.title} offers tool calling: {backend.features.tools}, vision: {backend.features.vision}"
                " (README feature matrix).",
                f"This model: vision {'true' if model.vision else 'false'} ({model.vision_source}).",
                _route_comment(model, backend.title), *_template_comments(model)]
            + (["Served here, so free: prices 0 (also less gateway CPU per request and per token,",
                "benchmarks/RESULTS.md \"Gateway levers\", rows \"zero prices\")."] if model.service else [])}


def _claude_entries(stack: StackSpec, by_alias: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Claude Code's model names, routed to the deployments of the alias each tier goes to."""
    assert stack.litellm is not None
    models = {m.alias: m for m in stack.models}
    entries = []
    for pattern, alias in stack.litellm.claude_routes:
        replicas = by_alias[alias]
        for n, params in enumerate(replicas):
            comments = [f"Claude Code asks for {pattern} model names: served by {alias!r}."] + ([
                "LiteLLM never leaves out a replica of a wildcard route: enable_weighted_failover (in",
                "router_settings) sends a request that failed on one replica to another.",
            ] if len(replicas) > 1 else [])
            entries.append({"model_name": pattern, "comments": comments if n == 0 else [], "params": params,
                            "info_comments": [], "info": _model_info(models[alias])})
    return entries


def gateway_view(stack: StackSpec, api_base: Address, service: Address) -> dict[str, Any]:
    """The LiteLLM config's entries and router settings, as data the template lays out; `api_base`
    and `service` say how this target reaches and names a backend."""
    by_alias = {model.alias: _deployments(model, api_base) for model in stack.models}
    replicated = any(len(deployments) > 1 for deployments in by_alias.values())
    entries = []
    for model in stack.models:
        deployments = by_alias[model.alias]
        alone = replicated and len(deployments) == 1
        if alone:  # the router settings below leave out a failing replica; this alias has no other one
            deployments[0]["cooldown_time"] = 0
        entries += [_entry(stack, model, params, n, len(deployments), alone, service)
                    for n, params in enumerate(deployments)]
    entries += _claude_entries(stack, by_alias)
    settings = REPLICA_ROUTER if replicated else SINGLE_ROUTER
    comments = ["Replicas of one alias (one model_list entry per upstream server): the router spreads",
                "requests over them and routes around one that fails."] if replicated else []
    return {"entries": entries, "router": {setting.key: setting.value for setting in settings},
            "router_notes": {setting.key: list(setting.why) for setting in settings},
            "router_comments": comments, "replicated": replicated, "hook": needs_hook(stack),
            "hook_callback": HOOK_CALLBACK, "hook_file": HOOK_FILE}


def needs_hook(stack: StackSpec) -> bool:
    """Whether the gateway loads llmstack's request hook: only when some alias has a switch on.
    Any callback costs every request LiteLLM's "no pre-call override" fast path."""
    return stack.litellm is not None and any(m.adapt for m in stack.models)


# ---- the gateway's Python files: the request hook, the startup hook --------------------------------

# LiteLLM runs each `module:function` of LITELLM_WORKER_STARTUP_HOOKS in every worker before it serves,
# importing the module from sys.path (litellm/proxy/proxy_server.py, 1.108.7): the startup file's
# directory goes on PYTHONPATH (a directory of its own, so nothing else there becomes importable).
STARTUP_HOOK = STARTUP_FILE.removesuffix(".py") + ":messages_route_first"


def startup_environment(directory: str) -> dict[str, str]:
    """The gateway's environment that runs the startup hook mounted in `directory`."""
    return {"PYTHONPATH": directory, "LITELLM_WORKER_STARTUP_HOOKS": STARTUP_HOOK}


def needs_startup(stack: StackSpec) -> bool:
    """Every gateway runs the startup hook (/v1/messages matched first: benchmarks/PROFILE.md)."""
    return stack.litellm is not None


def python_files(stack: StackSpec) -> list[str]:
    """The gateway's Python files a stack holds, in mount order."""
    return [name for name, needed in ((HOOK_FILE, needs_hook(stack)), (STARTUP_FILE, needs_startup(stack)))
            if needed]


@cache
def _source(name: str) -> str:
    return {HOOK_FILE: hook_source, STARTUP_FILE: startup_source}[name]().read_text(encoding="utf-8")


def python_file(name: str, context: dict[str, Any]) -> str:
    """llmstack_hook.py or llmstack_startup.py: the header every rendered file carries (Python
    comments), then llmstack's module verbatim."""
    return jinja.render(name + ".j2", context, source=Block(_source(name)))


def check_python_file(name: str, text: str) -> None:
    """A rendered Python file is comment lines, then llmstack's module byte for byte, read as UTF-8:
    no value reached its code (the header's values are in comments, escaped like every value)."""
    source = _source(name)
    head = text[:-len(source)] if text.endswith(source) else None
    if head is None or any(not line.startswith("#") for line in head.splitlines()):
        raise RenderError(f"{name}: not the header's comments followed by llmstack's module")
    encoding, _ = tokenize.detect_encoding(BytesIO(text.encode("utf-8")).readline)
    same(f"{name}: source encoding", encoding, "utf-8")


def litellm_config(context: dict[str, Any], view: dict[str, Any]) -> str:
    return jinja.render("litellm-config.yaml.j2", context, gateway=view)


# ---- the files every target writes alike -----------------------------------------------------------

def shared_files(context: dict[str, Any], stack: StackSpec, summary: manifest.StackSummary) -> dict[str, str]:
    """`.gitignore`, the manifest with the target's summary, and the gateway's hooks when it loads them."""
    recorded = manifest.Manifest(summary, dict(stack.inputs), dict(stack.facts))
    files = {
        GITIGNORE: jinja.render("gitignore.j2", context),
        MANIFEST: jinja.render("manifest.yaml.j2", context, body=Block(recorded.document())),
    }
    for name in python_files(stack):
        files[name] = python_file(name, context)
    return files


def summary(stack: StackSpec, *, gateway_url: str | None, published: dict[str, list[str]],
            gpus: dict[str, str | int], mounts: dict[str, list[manifest.MountSummary]],
            kubernetes: dict[str, Any] | None = None) -> manifest.StackSummary:
    """The manifest's stack summary: what every target records alike, with the target's addresses."""
    return manifest.StackSummary(
        name=stack.name, target=stack.target, project=stack.name,
        services=[m.service for m in stack.services] + (["litellm"] if stack.litellm else []),
        backends=[m.service for m in stack.services], gateway_url=gateway_url,
        aliases=[manifest.AliasSummary(m.alias, m.tools, m.vision, m.max_model_len or m.context_limit,
                                       m.service or None, m.adapt) for m in stack.models],
        claude=dict(stack.litellm.claude_routes if stack.litellm else ()), published=published, gpus=gpus,
        mounts=mounts, hub_cache=stack.uses_hub, key_variables=key_variables(stack),
        backend_keys={m.service: m.backend_key for m in stack.services if m.backend_key},
        plans={m.service: manifest.PlanSummary(round(m.plan.needed_gib, 2), m.plan.share, m.plan.gpus,
                                               m.plan.gpu_memory_gib) for m in stack.services if m.plan is not None},
        engines=engines(stack), kubernetes=kubernetes,
    )


def engines(stack: StackSpec) -> dict[str, manifest.EngineSummary]:
    """What each service runs: its image and release, what the image needs of the host, its flags."""
    found = {}
    for model in stack.services:
        engine = model.engine
        flags = backends.get(model.backend).server_options(model)
        found[model.service] = manifest.EngineSummary(
            model.backend, model.image, engine.version if engine else None, engine.catalogued if engine else None,
            engine.kind if engine else "cuda", engine.cuda if engine else None, engine.min_driver if engine else None,
            list(engine.cpu_features) if engine else [], flags, model.tool_parser, model.reasoning_parser)
    if stack.litellm is not None:
        found["litellm"] = manifest.EngineSummary("litellm", stack.litellm.image, kind="cpu")
    return found


def stamped(files: dict[str, str]) -> dict[str, str]:
    """Every file with its content hash filled in."""
    return {name: stamp.stamp(text) for name, text in files.items()}


def key_variables(stack: StackSpec) -> list[str]:
    """The upstream keys the gateway reads from `.env` (an external server keyed with the backends'
    own key, in front of hosts that share it, is a backend key: required)."""
    return sorted({m.api_key_env for m in stack.models if m.api_key_env} - set(backend_keys(stack)))


def backend_keys(stack: StackSpec) -> list[str]:
    """The keys of the backends the stack runs (generated into `.env` by render)."""
    return sorted({m.backend_key for m in stack.services if m.backend_key})


def env_keys(stack: StackSpec, gateway_key: bool) -> list[str]:
    """The secrets render generates into `.env` when they are missing there."""
    return ([MASTER_KEY] if gateway_key else []) + backend_keys(stack)


# ---- parsing back --------------------------------------------------------------------------------

def load(name: str, text: str) -> Any:
    try:
        return yamlio.load(text)
    except yamlio.YamlProblem as exc:  # pragma: no cover - a template bug
        raise RenderError(f"rendered {name} is not valid YAML: {exc}") from exc


def same(what: str, found: Any, expected: Any) -> None:
    if found != expected:
        raise RenderError(f"{what}: rendered {found!r}, the stack means {expected!r}")


def keys(what: str, mapping: Any, expected: set[str] | list[str]) -> None:
    if not isinstance(mapping, dict):
        raise RenderError(f"{what} is not a mapping")
    same(f"{what} keys", sorted(mapping), sorted(expected))


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
    same(f"{ENV_EXAMPLE} variables", sorted(names), sorted(expected))


def check_shared_files(files: dict[str, str], env_variables: set[str], stack: StackSpec) -> None:
    """The files every target writes alike say only what llmstack put there (the hooks when the
    gateway loads them, and only then)."""
    ignored = [line for line in files[GITIGNORE].splitlines() if line.strip() and not line.startswith("#")]
    same(f"{GITIGNORE} entries", ignored, [".env"])
    _check_dotenv_example(files[ENV_EXAMPLE], env_variables)
    data = load(MANIFEST, files[MANIFEST])
    body = files[MANIFEST][files[MANIFEST].index("\n{"):]
    same(f"{MANIFEST}", data, json.loads(body))
    keys(MANIFEST, data, {"format", "stack", "inputs", "models"})
    for name in (HOOK_FILE, STARTUP_FILE):
        same(f"{name} rendered", name in files, name in python_files(stack))
        if name in files:
            check_python_file(name, files[name])


def validate_gateway_config(stack: StackSpec, text: str, view: dict[str, Any]) -> None:
    """The LiteLLM config holds exactly the entries and settings the gateway view lays out, and
    serves every alias (and Claude's names) through chat completions."""
    assert stack.litellm is not None
    config = load(LITELLM_FILE, text)
    keys(LITELLM_FILE, config, {"model_list", "litellm_settings", "router_settings", "general_settings"})
    aliases = list(dict.fromkeys(entry["model_name"] for entry in config["model_list"]))
    expected_aliases = [m.alias for m in stack.models] + [p for p, _ in stack.litellm.claude_routes]
    if aliases != expected_aliases:
        raise RenderError(f"litellm aliases {aliases} do not match the stack {expected_aliases}")
    same(f"{LITELLM_FILE}: model_list length", len(config["model_list"]), len(view["entries"]))
    for entry, wanted in zip(config["model_list"], view["entries"], strict=True):
        keys(f"{LITELLM_FILE}: model_list entry", entry, {"model_name", "litellm_params", "model_info"})
        same(f"{LITELLM_FILE}: {wanted['model_name']}", entry["model_name"], wanted["model_name"])
        same(f"{LITELLM_FILE}: {wanted['model_name']} litellm_params", entry["litellm_params"], wanted["params"])
        same(f"{LITELLM_FILE}: {wanted['model_name']} model_info", entry["model_info"], wanted["info"])
        if entry["litellm_params"]["model"].startswith("openai/"):
            raise RenderError("the openai/ route sends Anthropic requests to /v1/responses")
    same(f"{LITELLM_FILE}: router_settings", config["router_settings"], view["router"])
    same(f"{LITELLM_FILE}: general_settings", config["general_settings"],
         {"master_key": "os.environ/LITELLM_MASTER_KEY"})
    settings = config["litellm_settings"]
    keys(f"{LITELLM_FILE}: litellm_settings", settings,
         {"drop_params", "use_chat_completions_url_for_anthropic_messages", "disable_hf_tokenizer_download"}
         | ({"callbacks"} if view["hook"] else set()))
    if view["hook"]:
        same(f"{LITELLM_FILE}: litellm_settings.callbacks", settings["callbacks"], [HOOK_CALLBACK])
