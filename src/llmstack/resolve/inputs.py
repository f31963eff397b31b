"""The inputs of a render as one layered lookup (provenance.Layers): every value any stage reads,
stack-level or per model, comes through it with its origin.

    flags (options.py)  >  the stack model  >  the stack  >  models.yaml defaults  >  built-in

Keys are flat, as models.yaml spells them relative to a stack model (`port`, `args.max_model_len`)
or to the stack (`network`, `litellm.port`, `kubernetes.namespace`). The flag, stack and stack
model layers are the user's own: every key they hold must be read by some stage, or skipped on
purpose, else the render stops naming it (`unused`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmstack.backends.base import Backend
from llmstack.configfile import Config, StackInput
from llmstack.errors import InputError
from llmstack.escaping import is_safe
from llmstack.options import OPTIONS, RenderOptions, cpu_contradicts_gpus, given, model_flags, spelled
from llmstack.provenance import Layer, Layers, Sourced, derived, flag, keypath
from llmstack.provenance import unused as unused_values

# Stack-level values nothing else sets.
BUILT_IN = {"network": "bridge", "bind": "127.0.0.1", "target": "compose", "litellm.enabled": True}


@dataclass
class Inputs:
    opts: RenderOptions
    config: Config
    stack: StackInput | None
    flags: Layer
    stack_layer: Layer
    entries: list[Layer]  # one per model of the stack (one for --model)
    settings: Layers  # the stack-level chain
    models: list[Layers]  # each model's chain (a backend's defaults are added once it is chosen)

    @property
    def single(self) -> bool:
        return len(self.entries) == 1

    @property
    def stack_name(self) -> str:
        return self.stack.name if self.stack is not None else ""

    def unused(self) -> list[Sourced[Any]]:
        return unused_values([self.flags, self.stack_layer, *self.entries])


def no_control_chars(value: Sourced[Any]) -> None:
    """Refuse line breaks (every one YAML knows: U+0085, U+2028 and U+2029 too) and other control
    characters: they make no sense in a path, a name or a flag. (Rendering would escape them
    anyway: escaping.py.)"""
    for text in value.value if isinstance(value.value, list) else [value.value]:
        if isinstance(text, str) and not is_safe(text):
            raise InputError(
                f"{value.origin.describe()} {text!r}: control characters (newline, tab, ...) are not supported; "
                "remove them or rename the file"
            )


def check_command_line(opts: RenderOptions) -> None:
    for option in OPTIONS:
        no_control_chars(Sourced(opts.get(option.name), flag(option.flag)))


def select_stack(opts: RenderOptions, config: Config) -> StackInput | None:
    name = opts.get("stack")
    if name is not None and name not in config.stacks:
        known = ", ".join(sorted(config.stacks)) or "none defined"
        raise InputError(f"stack {name!r} is not defined in {config.where} (stacks: {known}); "
                         "add it under `stacks:` or pass --model instead")
    stack = config.stacks[name] if name is not None else None
    if stack is None and opts.get("model") is None:
        raise InputError("nothing to render: pass --model PATH_OR_HF_ID, or a stack name from config/models.yaml")
    if stack is not None and len(stack.models) > 1:
        for option in given(opts.values, [o.name for o in model_flags()] + ["cpu"]):
            raise InputError(f"{option.flag}: stack {name!r} serves {len(stack.models)} models, so per-model flags "
                             f"are ambiguous; set the value on the model in {config.where}")
    if cpu_contradicts_gpus(opts.values):
        raise InputError(f"--cpu and --gpus {opts.get('gpus')} contradict each other; pass one of them")
    return stack


def flag_layer(opts: RenderOptions) -> Layer:
    """Every option that sets a models.yaml key, by that key (`--cpu` sets `gpus: none`)."""
    keyed = [option for option in OPTIONS if option.key and option.flags]
    values: dict[str, Any] = {str(option.key): opts.get(option.name) for option in keyed}
    names = {str(option.key): spelled(option, opts.get(option.name)) for option in keyed}
    if opts.get("cpu"):
        values["gpus"], names["gpus"] = "none", "--cpu"
    return Layer(values, lambda key: flag(names[key]), tracked=True)


def read_inputs(opts: RenderOptions, config: Config) -> Inputs:
    """Stage 1: the command line checked, the stack chosen, and the lookup chains built."""
    check_command_line(opts)
    stack = select_stack(opts, config)
    flags = flag_layer(opts)
    name = stack.name if stack is not None else ""
    stack_layer = Layer(stack.values if stack else {}, lambda key: config.origin("stacks", name, *key.split(".")),
                        tracked=True)
    entries = [Layer(entry, _entry_origin(config, name, i), tracked=True)
               for i, entry in enumerate(stack.models if stack else [{}])]
    single = len(entries) == 1
    settings = Layers([flags, stack_layer, gateway_defaults(config), Layer(BUILT_IN, lambda _: derived("default"))])
    models = [Layers([flags if single else None, entry, stack_layer]) for entry in entries]
    return Inputs(opts, config, stack, flags, stack_layer, entries, settings, models)


def _entry_origin(config: Config, stack: str, index: int) -> Any:
    return lambda key: config.origin("stacks", stack, "models", index, *key.split("."))


def gateway_defaults(config: Config) -> Layer:
    """The gateway's models.yaml defaults over its built-in ones (`defaults.backends.litellm`)."""
    settings = config.litellm
    values = {f"litellm.{key}": getattr(settings, key) for key in ("image", "version", "port", "alias",
                                                                    "num_workers", "cpu_shares")}
    return Layer(values, lambda key: settings.origins[key.removeprefix("litellm.")])


def backend_defaults(config: Config, backend: Backend, forced: Mapping[str, Any], fmt: str) -> list[Layer]:
    """A backend's models.yaml defaults over its built-in ones, below the args a model format forces."""
    settings = config.backend_settings[backend.name]
    # `repository`: the image without its tag (`image` of a stack model is a full reference).
    values = {"repository": settings.image, "version": settings.version, "port": settings.port,
              **{f"args.{key}": value for key, value in settings.args.items()}}
    format_layer = Layer({f"args.{key}": value for key, value in forced.items()},
                         lambda key: derived(f"{backend.title} with a {fmt} model ({keypath(key)})"))
    return [format_layer, Layer(values, lambda key: settings.origins["image" if key == "repository" else key])]
