"""A rendered stack directory as the runtime commands see it: where it is, which services it
has, where its gateway listens, which aliases it serves, and its master key (from `.env`)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from llmstack.errors import LlmstackError
from llmstack.paths import COMPOSE_FILE, ENV_FILE, LITELLM_FILE


@dataclass
class Alias:
    name: str
    tools: bool
    vision: bool


@dataclass
class StackDir:
    directory: Path
    project: str
    services: list[str]
    backends: list[str]
    gateway_url: str | None  # None with --no-litellm
    aliases: list[Alias] = field(default_factory=list)
    published: dict[str, list[str]] = field(default_factory=dict)

    def master_key(self) -> str:
        key = os.environ.get("LITELLM_MASTER_KEY") or read_env_file(self.directory / ENV_FILE).get(
            "LITELLM_MASTER_KEY")
        if not key:
            raise LlmstackError(
                f"{self.directory}/.env has no LITELLM_MASTER_KEY; re-run `llmstack render` (it creates one) "
                "or add it from .env.example"
            )
        return key


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return values
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _find(target: str) -> Path | None:
    for candidate in (Path(target), Path("compose") / target):
        if (candidate / COMPOSE_FILE).is_file():
            return candidate.resolve()
    return None


def locate(target: str | None) -> Path:
    """A directory holding docker-compose.yml, or a stack name rendered under compose/<name>.
    Without a target: the current directory, else the only stack under compose/."""
    if target is not None:
        found = _find(target)
        if found is not None:
            return found
        raise LlmstackError(
            f"{target}: no {COMPOSE_FILE} there (nor in compose/{target}); "
            "pass a rendered directory or stack name, or run `llmstack render` first"
        )
    if Path(COMPOSE_FILE).is_file():
        return Path(".").resolve()
    rendered = sorted(path.parent.name for path in Path("compose").glob(f"*/{COMPOSE_FILE}"))
    if len(rendered) == 1:
        return (Path("compose") / rendered[0]).resolve()
    if rendered:
        raise LlmstackError(
            f"several stacks under compose/ ({', '.join(rendered)}); name one, e.g. `{rendered[0]}`"
        )
    raise LlmstackError(
        f"no {COMPOSE_FILE} here and no stack under compose/; "
        "pass a rendered directory or stack name, or run `llmstack render` first"
    )


_PORT_RE = re.compile(r"^(?:(?P<host>\[[^\]]+\]|[^:]+):)?(?P<hp>\d+):(?P<cp>\d+)")


def _connect_host(host: str | None) -> str:
    if not host or host in ("0.0.0.0", "[::]", "::"):
        return "127.0.0.1"
    return host


def _published(service: dict) -> list[str]:
    urls = []
    for entry in service.get("ports") or []:
        match = _PORT_RE.match(str(entry))
        if match:
            urls.append(f"{_connect_host(match.group('host'))}:{match.group('hp')}")
    return urls


def _flag(command: list[str], flag: str) -> str | None:
    if flag in command:
        index = command.index(flag)
        if index + 1 < len(command):
            return str(command[index + 1])
    return None


def load(target: str | None) -> StackDir:
    directory = locate(target)
    try:
        compose = yaml.safe_load((directory / COMPOSE_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise LlmstackError(f"{directory}/{COMPOSE_FILE}: cannot read it ({exc}); re-render it") from None
    services = compose.get("services") or {}
    project = compose.get("name") or directory.name
    gateway_url = None
    gateway = services.get("litellm")
    if gateway:
        published = _published(gateway)
        if published:
            gateway_url = f"http://{published[0]}"
        elif gateway.get("network_mode") == "host":
            command = [str(c) for c in gateway.get("command") or []]
            host = _connect_host(_flag(command, "--host"))
            gateway_url = f"http://{host}:{_flag(command, '--port') or 4000}"
    aliases: list[Alias] = []
    config_path = directory / LITELLM_FILE
    if gateway and config_path.is_file():
        config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        for entry in config.get("model_list") or []:
            info = entry.get("model_info") or {}
            aliases.append(Alias(str(entry["model_name"]), bool(info.get("supports_function_calling")),
                                 bool(info.get("supports_vision"))))
    return StackDir(
        directory=directory,
        project=str(project),
        services=list(services),
        backends=[name for name in services if name != "litellm"],
        gateway_url=gateway_url,
        aliases=aliases,
        published={name: _published(svc) for name, svc in services.items()},
    )


def load_with_service(target: str | None, service: str | None) -> tuple[StackDir, str | None]:
    """For `llmstack logs [DIR_OR_STACK] [SERVICE]`: a lone argument that is no rendered directory
    but a service of the default stack means that service (`llmstack logs backend`)."""
    if target is not None and service is None and _find(target) is None:
        try:
            default = load(None)
        except LlmstackError:
            default = None
        if default is not None and target in default.services:
            return default, target
    stack = load(target)
    if service is not None and service not in stack.services:
        raise LlmstackError(
            f"{service}: no such service in {stack.directory}; pick one of: {', '.join(stack.services)}"
        )
    return stack, service
