"""`up`, `down`, `status` and `logs` for a rendered directory, through the Compose CLI."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from llmstack.compose import Project, check_engine, find_compose
from llmstack.errors import InputError, StackFailed
from llmstack.stackdir import StackDir

Echo = Callable[[str], None]


def open_project(stack: StackDir) -> Project:
    check_engine()
    return Project(find_compose(), stack.directory)


@dataclass
class ServiceState:
    service: str
    state: str  # running, exited, restarting, created, ... or "not created"
    health: str  # healthy, unhealthy, starting, or "" when there is no healthcheck
    exit_code: int | None = None


def states(project: Project, services: list[str]) -> dict[str, ServiceState]:
    found = {name: ServiceState(name, "not created", "") for name in services}
    for row in project.ps():
        name = row.get("Service")
        if name in found:
            found[name] = ServiceState(name, str(row.get("State", "")).lower(), str(row.get("Health", "")).lower(),
                                       row.get("ExitCode"))
    return found


class UpFailed(StackFailed):
    """The stack did not come up: a container exited, turned unhealthy, or timed out."""


def _phase_backend(st: ServiceState) -> str:
    if st.state in ("not created", "created"):
        return "starting"
    if st.state == "running":
        return {"healthy": "healthy", "unhealthy": "unhealthy"}.get(st.health, "loading model")
    return st.state


def _gateway_ready(url: str, key: str, aliases: list[str]) -> tuple[bool, str]:
    import httpx

    try:
        readiness = httpx.get(f"{url}/health/readiness", timeout=3)
        if readiness.status_code != 200:
            return False, "gateway starting"
        models = httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=5)
    except httpx.HTTPError:
        return False, "gateway starting"
    if models.status_code != 200:
        return False, f"gateway answers /v1/models with {models.status_code}"
    listed = {m.get("id") for m in models.json().get("data", [])}
    missing = [a for a in aliases if a not in listed]
    if missing:
        return False, f"gateway does not list {', '.join(missing)} yet"
    return True, "ready"


def _fail(project: Project, service: str, reason: str, echo_err: Echo) -> UpFailed:
    tail = project.logs_tail(service, 40).rstrip()
    echo_err(f"--- last log lines of {service} ---")
    echo_err(tail or "(no output)")
    echo_err("---")
    return UpFailed(f"{service} {reason}; inspect with `llmstack logs {project.directory} {service}`, "
                    f"clean up with `llmstack down {project.directory}`")


def up(stack: StackDir, timeout: float, wait: bool, echo: Echo, echo_err: Echo,
       poll: float = 0.1, ps_every: float = 1.0) -> float:
    """Start the stack; with wait, block until the gateway answers. Returns seconds waited."""
    key = stack.master_key() if stack.gateway_url else None
    project = open_project(stack)
    echo(f"Starting {stack.project} from {stack.directory} ({project.cli.describe()})")
    started = time.monotonic()
    # `up -d` itself blocks while dependencies become healthy: run it alongside the progress loop.
    proc = subprocess.Popen(project.argv("up", "-d", "--remove-orphans"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if not wait:
        output, _ = proc.communicate()
        if proc.returncode != 0:
            raise UpFailed(f"`docker compose up -d` failed: {_last_line(output)}")
        return time.monotonic() - started
    last_line = ""
    current: dict[str, ServiceState] = {}
    next_ps = 0.0
    try:
        while True:
            elapsed = time.monotonic() - started
            if elapsed >= next_ps:  # `compose ps` costs a process; the HTTP probe below does not
                current = states(project, stack.services)
                next_ps = elapsed + ps_every
            for name in stack.services:
                st = current[name]
                if st.state in ("exited", "dead", "restarting") or st.health == "unhealthy":
                    what = f"exited with code {st.exit_code}" if st.state == "exited" else st.health or st.state
                    raise _fail(project, name, f"failed ({what})", echo_err)
            phases = [f"{name}: {_phase_backend(current[name])}" for name in stack.backends]
            ready = all(_service_ready(current[name]) for name in stack.backends)
            if stack.gateway_url and "litellm" in current:
                # The gateway only starts once every backend is healthy, so its answer alone
                # decides readiness; probing it directly avoids waiting for the next `ps`.
                ok, phase = _gateway_ready(stack.gateway_url, key or "", [a.name for a in stack.aliases])
                if not ok and current["litellm"].state in ("not created", "created"):
                    phase = "gateway starting" if ready else "waiting for backend"
                ready = ok
                phases.append(f"litellm: {phase}")
            line = " · ".join(phases)
            if line != last_line:
                echo(f"[{elapsed:6.1f}s] {line}")
                last_line = line
            if ready:
                return elapsed
            if proc.poll() not in (None, 0):
                output = proc.stdout.read() if proc.stdout else ""
                culprit = next((n for n in stack.backends if current[n].health != "healthy"), stack.services[0])
                raise _fail(project, culprit, f"did not start: {_last_line(output)}", echo_err)
            if elapsed > timeout:
                culprit = next((n for n in stack.services if not _service_ready(current[n])), stack.services[-1])
                phase = _phase_backend(current[culprit]) if culprit != "litellm" else last_line.rsplit(": ", 1)[-1]
                raise _fail(project, culprit, f"not ready after {timeout:.0f}s ({phase})", echo_err)
            time.sleep(poll)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _service_ready(st: ServiceState) -> bool:
    return st.health == "healthy" or (st.state == "running" and not st.health)


def _last_line(output: str) -> str:
    lines = [line.strip() for line in (output or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def down(stack: StackDir, volumes: bool) -> None:
    project = open_project(stack)
    args = ["down", "--remove-orphans"] + (["--volumes"] if volumes else [])
    project.run(*args, capture=False)


def status_rows(stack: StackDir) -> list[dict]:
    project = open_project(stack)
    current = states(project, stack.services)
    rows = []
    for name in stack.services:
        st = current[name]
        endpoint = ""
        if name == "litellm" and stack.gateway_url:
            endpoint = stack.gateway_url
        elif stack.published.get(name):
            endpoint = "http://" + stack.published[name][0]
        rows.append({"service": name, "state": st.state, "health": st.health or "-", "endpoint": endpoint or "-"})
    return rows


def logs(stack: StackDir, service: str | None, follow: bool, tail: int | None) -> int:
    project = open_project(stack)
    if service is not None and service not in stack.services:
        raise InputError(f"no service {service!r} in {stack.directory} (services: {', '.join(stack.services)})")
    args = ["logs", "--no-color"]
    if follow:
        args.append("--follow")
    if tail is not None:
        args += ["--tail", str(tail)]
    if service:
        args.append(service)
    try:
        return project.run(*args, capture=False, check=False).returncode
    except KeyboardInterrupt:  # pragma: no cover - interactive
        return 0


def snippets(stack: StackDir) -> str:
    """Copy-paste client examples; the key is read from .env, never printed."""
    url = stack.gateway_url
    alias = stack.aliases[0].name if stack.aliases else "local-model"
    env = f"{stack.directory}/.env"
    return f"""Gateway ready: {url}
  OpenAI:    {url}/v1/chat/completions
  Anthropic: {url}/v1/messages
  Models:    {', '.join(a.name for a in stack.aliases)}
  Key:       LITELLM_MASTER_KEY in {env}

  export $(grep ^LITELLM_MASTER_KEY= {env})

  curl {url}/v1/chat/completions -H "Authorization: Bearer $LITELLM_MASTER_KEY" \\
       -H "Content-Type: application/json" \\
       -d '{{"model": "{alias}", "messages": [{{"role": "user", "content": "Hello"}}]}}'

  # OpenAI SDK
  from openai import OpenAI
  client = OpenAI(base_url="{url}/v1", api_key=os.environ["LITELLM_MASTER_KEY"])
  client.chat.completions.create(model="{alias}", messages=[{{"role": "user", "content": "Hello"}}])

  # Anthropic SDK
  from anthropic import Anthropic
  client = Anthropic(base_url="{url}", api_key=os.environ["LITELLM_MASTER_KEY"])
  client.messages.create(model="{alias}", max_tokens=256, messages=[{{"role": "user", "content": "Hello"}}])"""


def echo_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
