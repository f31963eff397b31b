"""A rendered stack directory as the runtime commands see it: where it is, which services it
has, where its gateway listens, which aliases it serves (all from its manifest), and its master
key (from `.env`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from llmstack import manifest
from llmstack.errors import InputError
from llmstack.manifest import AliasSummary, EngineSummary, MountSummary, PlanSummary
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
    engines: dict[str, EngineSummary] = field(default_factory=dict)  # service -> its image and what it needs
    key_variables: list[str] = field(default_factory=list)  # upstream keys the gateway reads from .env
    backend_keys: dict[str, str] = field(default_factory=dict)  # service -> the .env variable of its own key
    manifest_pristine: bool | None = None  # its llmstack-hash: True verified, False edited, None absent

    def gateway(self, base_url: str | None = None) -> tuple[str, str]:
        """(gateway URL, master key), once it is safe to send the key there: the manifest is
        exactly as rendered (its llmstack-hash verifies), and the URL it records is where the
        compose file publishes the gateway (unless the user names the URL with base_url)."""
        self.verify_manifest()
        url = base_url or self.gateway_url
        if not url:
            raise InputError(f"{self.directory} has no LiteLLM gateway (rendered with --no-litellm)")
        if base_url is None:
            from urllib.parse import urlsplit

            parts = urlsplit(url)
            published = published_gateway(self.directory)
            if (parts.hostname, parts.port) not in [(address.strip("[]"), port) for address, port in published]:
                where = ", ".join(f"{a}:{p}" for a, p in published) or "nowhere"
                raise InputError(
                    f"{self.directory}/{MANIFEST} records the gateway at {url} but {COMPOSE_FILE} publishes it at "
                    f"{where}; the key is not sent there: re-render the stack with `llmstack render` (the command "
                    f"is in the header of {COMPOSE_FILE})"
                )
        return url.rstrip("/"), self.master_key()

    def verify_manifest(self) -> None:
        if self.manifest_pristine is not True:
            what = "was edited by hand" if self.manifest_pristine is False else "carries no llmstack-hash"
            raise InputError(
                f"{self.directory}/{MANIFEST} {what}; the runtime commands send the master key only where an "
                f"untouched manifest says: re-render the stack with `llmstack render` (the command is in the "
                f"header of {COMPOSE_FILE})"
            )

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
    """KEY=value lines of a `.env` ({} when there is none). A line that is not UTF-8 is one
    error naming the file and the line, never a traceback."""
    import stat

    values: dict[str, str] = {}
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block the read; a directory holds no keys
            raise InputError(f"{path}: not a regular file; remove it and run `llmstack render` again (it creates "
                             ".env with new keys)")
        data = path.read_bytes()
    except OSError:
        return values
    for number, raw in enumerate(data.splitlines(), 1):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{path}: line {number} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                "save the file as UTF-8 (a key is ASCII)"
            ) from None
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip().removeprefix("export ").strip()] = value
    return values


def is_loopback(url: str) -> bool:
    """Whether the URL's host is this machine's loopback (127.0.0.0/8, ::1, localhost)."""
    import ipaddress
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _published_addresses(service: dict) -> list[tuple[str, int]]:
    """(host address, host port) of each port a compose service publishes ("ADDR:PORT:PORT",
    "[v6]:PORT:PORT", "PORT:PORT", or the long form)."""
    found = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            address, published = str(entry.get("host_ip") or "0.0.0.0"), str(entry.get("published") or "")
        else:
            text = str(entry)
            if text.startswith("["):
                address, rest = text[1:].split("]", 1)
                parts = rest.lstrip(":").split(":")
            else:
                pieces = text.split(":")
                address, parts = (pieces[0], pieces[1:]) if len(pieces) == 3 else ("0.0.0.0", pieces)
            published = parts[0] if len(parts) >= 2 else ""
        if published.isdigit():
            found.append((address, int(published)))
    return found


def _host_network_listen(service: dict) -> tuple[str, int] | None:
    command = [str(a) for a in service.get("command") or []]
    try:
        return command[command.index("--host") + 1], int(command[command.index("--port") + 1])
    except (ValueError, IndexError):
        return None


def _reachable_as(address: str) -> str:
    return "127.0.0.1" if address in ("0.0.0.0", "::", "") else address


def compose_services(directory: Path) -> dict[str, dict]:
    """The services of the directory's compose file, as written ({} when unreadable)."""
    import yaml

    try:
        data = yaml.safe_load((directory / COMPOSE_FILE).read_text(encoding="utf-8"))
        services = data["services"]
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError):
        return {}
    return {str(k): v for k, v in services.items() if isinstance(v, dict)} if isinstance(services, dict) else {}


def published_gateway(directory: Path) -> list[tuple[str, int]]:
    """Where the compose file in directory makes the gateway (service `litellm`) reachable on this host."""
    service = compose_services(directory).get("litellm")
    if service is None:
        return []
    if service.get("network_mode") == "host":
        listen = _host_network_listen(service)
        return [(_reachable_as(listen[0]), listen[1])] if listen else []
    return [(_reachable_as(address), port) for address, port in _published_addresses(service)]


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
    _check_recorded(directory, summary)
    return StackDir(
        directory=directory, project=summary.project, services=summary.services, backends=summary.backends,
        gateway_url=summary.gateway_url, aliases=summary.aliases, published=summary.published,
        claude=summary.claude, gpus={k: str(v) for k, v in summary.gpus.items()}, mounts=summary.mounts,
        hub_cache=summary.hub_cache, plans=summary.plans, engines=summary.engines,
        key_variables=summary.key_variables, backend_keys=summary.backend_keys,
        manifest_pristine=manifest.pristine_on_disk(directory),
    )


def _check_recorded(directory: Path, summary: manifest.StackSummary) -> None:
    """The values the runtime commands act on are ones llmstack writes (a restamped manifest may hold
    anything): GPU reservations, published host:port pairs."""
    from llmstack.spec import GpuSpec

    where = f"{directory / MANIFEST}"
    fix = "re-render the stack with `llmstack render` (the command is in the header of its docker-compose.yml)"
    for service, value in summary.gpus.items():
        try:
            GpuSpec.parse(str(value))
        except ValueError:
            raise InputError(f"{where}: GPUs of {service!r} {str(value)!r}: not what llmstack writes; "
                             f"{fix}") from None
    for service, addresses in summary.published.items():
        for address in addresses:
            port = address.rsplit(":", 1)[-1]
            if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
                raise InputError(f"{where}: {service!r} published on {address!r}, not host:port; {fix}")


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
