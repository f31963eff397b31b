"""A rendered stack directory as the runtime commands see it: where it is, which services it
has, where its gateway listens, which aliases it serves (all from its manifest), and its master
key (from `.env`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from llmstack import manifest
from llmstack.errors import InputError
from llmstack.manifest import AliasSummary, MountSummary, PlanSummary
from llmstack.paths import COMPOSE_FILE, ENV_FILE, MANIFEST


@dataclass
class StackDir:
    directory: Path
    project: str
    services: list[str]
    backends: list[str]
    gateway_url: str | None  # None with --no-litellm
    aliases: list[AliasSummary] = field(default_factory=list)
    published: dict[str, list[str]] = field(default_factory=dict)
    claude: dict[str, str] = field(default_factory=dict)  # Claude model name pattern -> alias
    gpus: dict[str, str] = field(default_factory=dict)  # service -> all | N | 0,1
    mounts: dict[str, list[MountSummary]] = field(default_factory=dict)
    hub_cache: bool = False
    plans: dict[str, PlanSummary] = field(default_factory=dict)  # service -> what its memory plan assumed
    key_variables: list[str] = field(default_factory=list)  # upstream keys the gateway reads from .env

    def master_key(self) -> str:
        key = os.environ.get("LITELLM_MASTER_KEY") or read_env_file(self.directory / ENV_FILE).get(
            "LITELLM_MASTER_KEY")
        if not key:
            raise InputError(
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
        for candidate in (Path(target), Path("compose") / target, Path("compose") / f"{target}-k8s"):
            if (candidate / "kustomization.yaml").is_file():
                raise InputError(
                    f"{candidate}: a Kubernetes (kustomize) directory, which this command does not drive; deploy it "
                    f"with `kubectl apply -k {candidate}` and reach its gateway with the `kubectl port-forward` "
                    "line in its kustomization.yaml"
                )
        raise InputError(
            f"{target}: no {COMPOSE_FILE} there (nor in compose/{target}); "
            "pass a rendered directory or stack name, or run `llmstack render` first"
        )
    if Path(COMPOSE_FILE).is_file():
        return Path(".").resolve()
    rendered = sorted(path.parent.name for path in Path("compose").glob(f"*/{COMPOSE_FILE}"))
    if len(rendered) == 1:
        return (Path("compose") / rendered[0]).resolve()
    if rendered:
        raise InputError(
            f"several stacks under compose/ ({', '.join(rendered)}); name one, e.g. `{rendered[0]}`"
        )
    raise InputError(
        f"no {COMPOSE_FILE} here and no stack under compose/; "
        "pass a rendered directory or stack name, or run `llmstack render` first"
    )


def load(target: str | None) -> StackDir:
    """The rendered stack, as its manifest describes it (the compose file is never parsed back)."""
    directory = locate(target)
    recorded = manifest.read(directory)
    if recorded is None:
        raise InputError(
            f"{directory}: no readable {MANIFEST} beside {COMPOSE_FILE}; re-render the stack with "
            "`llmstack render` (the command is in the header of its docker-compose.yml)"
        )
    summary = recorded.stack
    return StackDir(
        directory=directory, project=summary.project, services=summary.services, backends=summary.backends,
        gateway_url=summary.gateway_url, aliases=summary.aliases, published=summary.published,
        claude=summary.claude, gpus={k: str(v) for k, v in summary.gpus.items()}, mounts=summary.mounts,
        hub_cache=summary.hub_cache, plans=summary.plans, key_variables=summary.key_variables,
    )


def load_with_service(target: str | None, service: str | None) -> tuple[StackDir, str | None]:
    """For `llmstack logs [DIR_OR_STACK] [SERVICE]`: a lone argument that is no rendered directory
    but a service of the default stack means that service (`llmstack logs backend`)."""
    if target is not None and service is None and _find(target) is None:
        try:
            default = load(None)
        except InputError:
            default = None
        if default is not None and target in default.services:
            return default, target
    stack = load(target)
    if service is not None and service not in stack.services:
        raise InputError(
            f"{service}: no such service in {stack.directory}; pick one of: {', '.join(stack.services)}"
        )
    return stack, service
