"""What a fresh render changes in the engines of a committed stack: `render --check` prints it
beside the list of files, so an upgrade of llmstack's pins (or a `--backend-version`) is reviewed
as a short summary before anyone takes it: image, release, CUDA/driver needs, server flags, parsers.

The committed side is the manifest's `engines` record; a stack rendered before llmstack recorded
it falls back to its compose file (image and command of each service).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmstack.manifest import EngineSummary, StackSummary

_GATEWAY = "litellm"  # the gateway's service name, and its "backend"


_PARSER_FLAGS = {"tool": ("--tool-call-parser", "--tool_parser"), "reasoning": ("--reasoning-parser",
                                                                              "--reasoning_parser")}


def _server_words(command: list[str]) -> list[str]:
    """A command without the program that starts it (`python3 -m sglang.launch_server`, `trtllm-serve`)."""
    if command and not command[0].startswith("-"):
        first = next((n for n, word in enumerate(command) if word.startswith("--")), len(command))
        return command[first:]
    return command


def _parser(command: list[str], kind: str) -> str | None:
    for flag in _PARSER_FLAGS[kind]:
        if flag in command[:-1]:
            return command[command.index(flag) + 1]
    return None


def _from_compose(directory: Path, new: dict[str, EngineSummary]) -> dict[str, EngineSummary]:
    """Images, command flags and parsers of a compose file rendered before the manifest recorded engines."""
    from llmstack import yamlio
    from llmstack.backends.base import flag_name
    from llmstack.paths import COMPOSE_FILE

    try:
        data = yamlio.load((directory / COMPOSE_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yamlio.YamlProblem):
        return {}
    services = data.get("services") if isinstance(data, dict) else None
    found = {}
    for name, service in (services or {}).items():
        if not isinstance(service, dict) or not isinstance(service.get("image"), str):
            continue
        if name == _GATEWAY:
            found[name] = EngineSummary(_GATEWAY, service["image"])
            continue
        raw = service["command"] if isinstance(service.get("command"), list) else []
        command = _server_words([str(arg) for arg in raw])
        backend = new[name].backend if name in new else "unknown"
        found[str(name)] = EngineSummary(backend, service["image"], flags=[f for a in command if (f := flag_name(a))],
                                         tool_parser=_parser(command, "tool"),
                                         reasoning_parser=_parser(command, "reasoning"))
    return found


def _needs(engine: EngineSummary) -> str:
    parts = [f"CUDA {engine.cuda}"] if engine.cuda else []
    if engine.min_driver:
        parts.append(f"driver >= {engine.min_driver}")
    if engine.cpu_features:
        parts.append("CPU " + "+".join(engine.cpu_features))
    return f" ({', '.join(parts)})" if parts else ""


def _changed(label: str, old: Any, new: Any) -> list[str]:
    return [f"{label} {old or 'none'} -> {new or 'none'}"] if old != new else []


def _one(old: EngineSummary, new: EngineSummary, compared_flags: bool) -> list[str]:
    parts = _changed("release", old.version, new.version) if old.version else []
    if old.image != new.image:
        parts.append(f"image {old.image} -> {new.image}{_needs(new)}")
    elif (old.cuda, old.min_driver) != (new.cuda, new.min_driver):
        parts.append(f"image needs{_needs(new) or ' nothing recorded'}")
    if compared_flags:
        added = [f for f in new.flags if f not in old.flags]
        removed = [f for f in old.flags if f not in new.flags]
        if added:
            parts.append("flags added " + " ".join(added))
        if removed:
            parts.append("flags removed " + " ".join(removed))
    parts += _changed("tool parser", old.tool_parser, new.tool_parser)
    parts += _changed("reasoning parser", old.reasoning_parser, new.reasoning_parser)
    return parts


def changes(directory: Path, old: StackSummary | None, new: StackSummary) -> list[str]:
    """One line per service whose engine a fresh render changes (empty: the engines stay as they are)."""
    recorded = old.engines if old is not None and old.engines else _from_compose(directory, new.engines)
    if not recorded:
        return []
    lines = []
    for service, engine in new.engines.items():
        before = recorded.get(service)
        title = f"{service} ({engine.backend})" if service != engine.backend else service
        if before is None:
            lines.append(f"{title}: new, {engine.image}{_needs(engine)}")
            continue
        parts = _one(before, engine, compared_flags=service != _GATEWAY)
        if parts:
            lines.append(f"{title}: {'; '.join(parts)}")
    lines += [f"{service}: removed ({engine.image})" for service, engine in recorded.items()
              if service not in new.engines]
    return lines
