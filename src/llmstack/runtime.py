"""`up`, `down`, `status` and `logs` for a rendered directory, through the Compose CLI.

What `up` judges, and why (issue #16):

- It waits for `docker compose up -d` to finish before it judges anything: until then the
  engine may still show the containers of the previous render, or an exited one Compose is
  about to start again. Stopping Compose mid-recreate would leave a container in Created.
- Then it judges the containers Compose left, by id: each one's config-hash label must be what
  `docker compose config --hash` says for the file on disk (the re-render was applied), its
  state `running` (not paused, exited, restarting) and its Docker health `healthy`.
- The gateway is ready when its readiness probe answers, it lists every alias, a real
  one-token request for each alias comes back through it (a backend that hangs while Docker
  still says healthy is not ready), and Docker's own health check agrees: `status` (and
  `docker compose ps`) right after `up` then say healthy too, not `starting`.
- A container whose restart count keeps rising is a crash loop: reported at once, with its log.
  A backend is judged at its first restart: a server that refuses its flags or runs out of memory
  exits the same way on every try, and one try can take many minutes (vLLM on a CPU). Its own
  error line (`vllm: error: unrecognized arguments: ...`, `ValueError: ...`) is named in the verdict.
- A file a running container bind-mounts (litellm-config.yaml) that changed since the container
  started makes `up` recreate that service: Compose only compares the compose file.
- A transient engine answer while polling (`No such container` during a recreate) is retried.
- One Compose project per directory: a project whose containers were started from another
  directory is refused, naming it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from llmstack.compose import (
    Container,
    Project,
    TransientEngineError,
    check_engine,
    find_compose,
    processes,
    project_containers,
)
from llmstack.errors import InputError, StackFailed
from llmstack.stackdir import StackDir

Echo = Callable[[str], None]
T = TypeVar("T")

WORKERS_VARIABLE = "LLMSTACK_LITELLM_WORKERS"  # render.WORKERS_VARIABLE (not imported: it needs Jinja)
PROBE_TIMEOUT = 30.0  # seconds for the one-token request through the gateway
CRASH_LOOP_RESTARTS = 2  # restarts seen while waiting that make a crash loop (the gateway)
BACKEND_CRASH_RESTARTS = 1  # a backend: its first restart
# A Python exception's last line (`ValueError: ...`, `torch._inductor.exc.InvalidCxxCompiler: ...`, also
# as vLLM's EngineCore prints it: `(EngineCore pid=7) ValueError: ...`) or argparse's `prog: error: ...`;
# not a log level (`INFO: ...`).
ERROR_LINE = re.compile(r"^(?:\([^)]*\) )?((?:[a-z_]\w*\.)*[A-Z]\w*[a-z]\w*: \S.*|\S+: error: .*)$")


class UpFailed(StackFailed):
    """The stack did not come up: a container exited, turned unhealthy, or timed out."""


class ProjectOwned(StackFailed):
    """The stack's Compose project holds containers started from another directory."""


def retry(action: Callable[[], T], attempts: int = 5, delay: float = 0.5) -> T:
    """Run an engine query again after a transient answer (a container removed meanwhile)."""
    for attempt in range(attempts):
        try:
            return action()
        except TransientEngineError:
            if attempt == attempts - 1:
                raise
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _same_directory(recorded: str, directory: Path) -> bool:
    try:
        return os.path.samefile(recorded, directory)
    except OSError:
        return os.path.normpath(recorded) == os.path.normpath(str(directory))


def ensure_owned(stack: StackDir) -> list[Container]:
    """The project's containers, after checking none was started from another directory."""
    containers = retry(lambda: project_containers(stack.project))
    for container in containers:
        if container.working_dir and not _same_directory(container.working_dir, stack.directory):
            other = container.working_dir
            gone = "" if os.path.isdir(other) else " (no longer there: remove its containers with " \
                f"`docker compose -p {stack.project} down`)"
            raise ProjectOwned(
                f"Compose project {stack.project!r} belongs to {other}{gone}, not {stack.directory}: two directories "
                f"with one project replace each other's containers; re-render this one with another --name "
                f"(e.g. --name {stack.project}-2), or stop the other first (`llmstack down {other}`)"
            )
    return containers


def open_project(stack: StackDir) -> Project:
    check_engine()
    project = Project(find_compose(), stack.directory, stack.project)
    ensure_owned(stack)
    return project


@dataclass
class ServiceState:
    service: str
    state: str  # running, paused, exited, restarting, created, ... or "not created"
    health: str  # healthy, unhealthy, starting, or "" when there is no healthcheck
    exit_code: int | None = None
    container: Container | None = None

    @property
    def ready(self) -> bool:
        return self.state == "running" and self.health in ("healthy", "")

    def describe(self) -> str:
        if self.state == "exited":
            oom = ", out of memory" if self.container and self.container.oom_killed else ""
            return f"exited with code {self.exit_code}{oom}"
        if self.state == "running" and self.health == "unhealthy":
            return "unhealthy"
        return self.state


def by_service(containers: list[Container], services: list[str],
               hashes: dict[str, str] | None = None) -> dict[str, ServiceState]:
    """The container that stands for each service: the one made from the current file (when the
    hashes are known), running rather than not, most recently started."""
    found = {name: ServiceState(name, "not created", "") for name in services}
    for name in services:
        candidates = [c for c in containers if c.service == name]
        if not candidates:
            continue
        wanted = (hashes or {}).get(name)
        best = max(candidates, key=lambda c: (c.config_hash == wanted, c.state == "running", c.started_at))
        found[name] = ServiceState(name, best.state, best.health, best.exit_code, best)
    return found


def _timestamp(text: str) -> float | None:
    """Docker's RFC 3339 time (nanoseconds) as epoch seconds."""
    if not text or text.startswith("0001-"):
        return None
    head, _, rest = text.partition(".")
    fraction = "".join(ch for ch in rest if ch.isdigit())[:6]
    zone = rest[len("".join(ch for ch in rest if ch.isdigit())):] or "Z"
    try:
        return datetime.fromisoformat(f"{head}.{fraction or '0'}{zone.replace('Z', '+00:00')}").timestamp()
    except ValueError:
        return None


def stale_mounts(containers: list[Container], directory: Path) -> dict[str, list[str]]:
    """service -> files of the stack directory it bind-mounts that changed after it started."""
    stale: dict[str, list[str]] = {}
    for container in containers:
        started = _timestamp(container.started_at)
        if started is None or container.state not in ("running", "restarting", "paused"):
            continue
        for mount in container.mounts:
            source = Path(str(mount.get("Source", "")))
            if mount.get("Type") != "bind" or source.parent != directory:
                continue
            try:
                changed = source.stat().st_mtime > started
            except OSError:
                continue
            if changed:
                stale.setdefault(container.service, []).append(source.name)
    return stale


def _gateway_probe(client, key: str, aliases: list[str], real_request: bool) -> tuple[bool, str]:
    """(ready, phase) of the gateway: readiness, the aliases listed, and (real_request) a
    one-token answer for every alias, which only comes back when its backend answers."""
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    try:
        readiness = client.get("/health/readiness", timeout=5)
        if readiness.status_code != 200:
            return False, "gateway starting"
        models = client.get("/v1/models", headers=headers, timeout=10)
    except httpx.HTTPError:
        return False, "gateway starting"
    if models.status_code != 200:
        return False, f"gateway answers /v1/models with {models.status_code}"
    try:
        listed = {m.get("id") for m in models.json().get("data", [])}
    except (ValueError, AttributeError):
        return False, "gateway answers /v1/models with something else than a model list"
    missing = [a for a in aliases if a not in listed]
    if missing:
        return False, f"gateway does not list {', '.join(missing)} yet"
    if not real_request:
        return False, "gateway lists the models"
    for alias in aliases:
        body = {"model": alias, "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1}
        try:
            answer = client.post("/v1/chat/completions", json=body, headers=headers, timeout=PROBE_TIMEOUT)
        except httpx.TimeoutException:
            return False, f"a request for {alias} got no answer within {PROBE_TIMEOUT:.0f} s (backend hung?)"
        except httpx.HTTPError as exc:
            return False, f"a request for {alias} failed ({type(exc).__name__})"
        if answer.status_code != 200:
            return False, f"a request for {alias} is answered {answer.status_code}"
    return True, "ready"


class _Workers:
    """The gateway's uvicorn worker processes seen while waiting: workers that keep being
    replaced are the loop a busy or small host can put uvicorn in (it kills a worker that does
    not answer its ping in time and starts another), which LITELLM_LOG=WARNING keeps out of the log."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.expected: int | None = None
        self.last_sample = 0.0

    def sample(self, container: Container) -> None:
        if container.state != "running" or time.monotonic() - self.last_sample < 2.0:
            return
        self.last_sample = time.monotonic()
        if "--num_workers" in container.args:
            try:
                self.expected = int(container.args[container.args.index("--num_workers") + 1])
            except (IndexError, ValueError):
                pass
        for pid, _ppid, command in processes(container.id):
            if "spawn_main" in command or "--multiprocessing-fork" in command:
                if "resource_tracker" not in command:
                    self.seen.add(pid)

    @property
    def respawned(self) -> int:
        return max(0, len(self.seen) - (self.expected or 1))


def _phase_backend(st: ServiceState) -> str:
    if st.state in ("not created", "created"):
        return "starting"
    if st.state == "running":
        return {"healthy": "healthy", "unhealthy": "unhealthy"}.get(st.health, "loading model")
    return st.describe()


class _Up:
    """One `up --wait`: the progress loop and its verdicts."""

    def __init__(self, project: Project, stack: StackDir, gateway: tuple[str, str] | None,
                 proc: subprocess.Popen, output, started: float, timeout: float, echo: Echo, echo_err: Echo):
        self.project, self.stack, self.proc, self.output = project, stack, proc, output
        self.started, self.timeout, self.echo, self.echo_err = started, timeout, echo, echo_err
        self.key = gateway[1] if gateway else ""
        self.client = None
        if gateway:
            from llmstack.smoke import http_client

            self.client = http_client(gateway[0], PROBE_TIMEOUT)
        self.current: dict[str, ServiceState] = by_service([], stack.services)
        self.first_restarts: dict[str, int] = {}
        self.hashes: dict[str, str] | None = None
        self.workers = _Workers()
        self.transient_failures = 0
        self.next_request = 0.0
        self.gateway_phase = "waiting for backend"

    def compose_output(self) -> str:
        self.output.seek(0)
        return self.output.read().decode("utf-8", "replace")

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def sample(self) -> None:
        try:
            containers = project_containers(self.stack.project)
        except TransientEngineError:  # a container removed between listing and inspecting it
            self.transient_failures += 1
            if self.transient_failures >= 20:
                raise
            return
        self.transient_failures = 0
        self.current = by_service(containers, self.stack.services, self.hashes)

    def fail(self, service: str, reason: str, extra: list[str] | None = None, fix: str | None = None) -> UpFailed:
        tail = self.project.logs_tail(service, 40).rstrip()
        self.echo_err(f"--- last log lines of {service} ---")
        if not tail and service == "litellm":
            tail = ("(nothing: docker-compose.yml sets LITELLM_LOG=WARNING, which hides the gateway's INFO lines, "
                    "uvicorn's worker restarts among them)")
        self.echo_err(tail or "(no output)")
        for line in extra or []:
            self.echo_err(line)
        self.echo_err("---")
        where = self.project.directory
        return UpFailed(f"{service} {reason}; " + (f"{fix}; " if fix else "")
                        + f"inspect with `llmstack logs {where} {service}`, clean up with `llmstack down {where}`")

    def gateway_fix(self) -> tuple[list[str], str | None]:
        """What the processes said about a gateway that never got ready, and the likely fix."""
        extra, fix = [], None
        workers = self.workers
        configurable = f"${{{WORKERS_VARIABLE}" in self.project.compose_file.read_text(encoding="utf-8",
                                                                                        errors="replace")
        if workers.seen:
            extra.append(f"(uvicorn worker processes: {workers.expected or '?'} expected, {len(workers.seen)} "
                         f"started while waiting)")
        env = f"{self.stack.directory}/.env"
        if workers.respawned:
            fix = (f"its uvicorn workers died and were re-spawned {workers.respawned} times, as on a host too busy "
                   f"or too small for {workers.expected or 'that many'} workers")
            if configurable:
                fix += f": set {WORKERS_VARIABLE}=1 in {env}, then `llmstack up {self.stack.directory}` again"
        elif configurable and (workers.expected or 2) > 1:
            fix = (f"on a busy or small host fewer gateway workers start sooner: set {WORKERS_VARIABLE}=1 in {env}, "
                   f"then `llmstack up {self.stack.directory}` again")
        return extra, fix

    def judge(self, compose_done: bool) -> None:
        """Raise for a service that failed: at any time for a crash loop, once Compose is done
        for a container that is not running as the current file says."""
        for name in self.stack.services:
            st = self.current[name]
            container = st.container
            if container is None:
                continue
            first = self.first_restarts.setdefault(container.id, container.restart_count)
            restarts = container.restart_count - first
            if name in self.stack.backends and restarts >= BACKEND_CRASH_RESTARTS:
                said = error_line(self.project.logs_tail(name, 200))
                raise self.fail(name, "exited while starting and was restarted" + (f" ({said})" if said else ""))
            if restarts >= CRASH_LOOP_RESTARTS:
                extra, fix = self.gateway_fix() if name == "litellm" else ([], None)
                raise self.fail(name, f"keeps restarting (restarted {restarts} times while "
                                      f"waiting, last {st.describe()})", extra, fix)
            if not compose_done:
                continue
            if self.hashes and self.hashes.get(name) and container.config_hash != self.hashes[name]:
                raise self.fail(name, "runs an older configuration than docker-compose.yml (Compose did not "
                                      "recreate it)")
            if st.state in ("exited", "dead"):
                raise self.fail(name, f"failed ({st.describe()})")
            if st.state == "paused":
                raise self.fail(name, "is paused", fix=f"resume it with `docker unpause {container.id[:12]}`")
            if st.health == "unhealthy":
                raise self.fail(name, "failed (unhealthy)")

    def gateway_ready(self, backends_ready: bool) -> bool:
        st = self.current.get("litellm")
        if st is None or self.client is None:
            return backends_ready
        if st.container is not None:
            self.workers.sample(st.container)
        if not backends_ready or st.state != "running":
            self.gateway_phase = "waiting for backend" if not backends_ready else "gateway starting"
            return False
        real = time.monotonic() >= self.next_request
        ok, self.gateway_phase = _gateway_probe(self.client, self.key, [a.name for a in self.stack.aliases], real)
        if real and not ok and self.gateway_phase.startswith("a request"):
            self.next_request = time.monotonic() + 5.0
        if ok and not st.ready:  # answering, but Docker's first health check has not run yet
            self.gateway_phase = "answering; waiting for Docker's health check"
            return False
        return ok

    def run(self, poll: float) -> float:
        last_line = ""
        while True:
            compose_done = self.proc.poll() is not None
            if compose_done and self.proc.returncode != 0:
                self.sample()
                culprit = next((n for n in self.stack.services if not self.current[n].ready), self.stack.services[0])
                st = self.current[culprit]
                fix = (f"resume it with `docker unpause {st.container.id[:12]}`"
                       if st.state == "paused" and st.container else None)
                # Compose can give up on a backend first (`dependency failed to start: ... is unhealthy`,
                # seen with vLLM refusing its flags): the server's own error line says why.
                said = error_line(self.project.logs_tail(culprit, 200)) if culprit in self.stack.backends else ""
                raise self.fail(culprit, "did not start" + (f" ({said})" if said else "")
                                + f": {_last_line(self.compose_output())}", fix=fix)
            if compose_done and self.hashes is None:
                self.hashes = retry(self.project.config_hashes)
            self.sample()
            self.judge(compose_done)
            backends_ready = compose_done and all(self.current[n].ready for n in self.stack.backends)
            phases = [f"{name}: {_phase_backend(self.current[name])}" for name in self.stack.backends]
            if "litellm" in self.stack.services:
                ready = self.gateway_ready(backends_ready)
                phases.append(f"litellm: {'ready' if ready else self.gateway_phase}")
            else:
                ready = backends_ready
            elapsed = self.elapsed()
            line = " · ".join(phases)
            if line != last_line:
                self.echo(f"[{elapsed:6.1f}s] {line}")
                last_line = line
            if ready:
                return elapsed
            if elapsed > self.timeout:
                waiting = [n for n in self.stack.backends if not self.current[n].ready]
                if waiting:
                    raise self.fail(waiting[0], f"not ready after {self.timeout:.0f}s "
                                                f"({_phase_backend(self.current[waiting[0]])})")
                extra, fix = self.gateway_fix()
                raise self.fail("litellm", f"not ready after {self.timeout:.0f}s ({self.gateway_phase})", extra, fix)
            time.sleep(poll)


def up(stack: StackDir, timeout: float, wait: bool, echo: Echo, echo_err: Echo, poll: float = 0.5) -> float:
    """Start the stack; with wait, block until the gateway answers. Returns seconds waited."""
    gateway = stack.gateway() if stack.gateway_url else None  # refused before anything starts
    project = open_project(stack)
    echo(f"Starting {stack.project} from {stack.directory} ({project.cli.describe()})")
    started = time.monotonic()
    stale = stale_mounts(retry(lambda: project_containers(stack.project)), stack.directory)
    if stale:
        for service, names in sorted(stale.items()):
            echo(f"Recreating {service}: {', '.join(sorted(names))} changed since it started")
        project.run("rm", "--stop", "--force", *sorted(stale))
    with tempfile.TemporaryFile() as output:
        # `up -d` blocks while dependencies become healthy: run it alongside the progress loop.
        proc = subprocess.Popen(project.argv("up", "-d", "--remove-orphans"), stdout=output,
                                stderr=subprocess.STDOUT)
        try:
            if not wait:
                proc.wait()
                if proc.returncode != 0:
                    output.seek(0)
                    said = output.read().decode("utf-8", "replace")
                    raise UpFailed(f"`docker compose up -d` failed: {_last_line(said)}")
                return time.monotonic() - started
            return _Up(project, stack, gateway, proc, output, started, timeout, echo, echo_err).run(poll)
        finally:
            if proc.poll() is None:  # only on a failure or an interrupt: never in the middle of a success
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()


def error_line(log: str) -> str:
    """The first error a server printed in a log tail (Compose's `service-1  | ` prefix removed): an
    exception's last line or an argument parser's `prog: error: ...`."""
    for line in log.splitlines():
        text = line.split(" | ", 1)[1].strip() if " | " in line else line.strip()
        found = ERROR_LINE.match(text)
        if found:
            return found.group(1)[:300]
    return ""


def _last_line(output: str) -> str:
    lines = [line.strip() for line in (output or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def down(stack: StackDir, volumes: bool) -> None:
    project = open_project(stack)
    args = ["down", "--remove-orphans"] + (["--volumes"] if volumes else [])
    project.run(*args, capture=False)


def status_rows(stack: StackDir) -> list[dict]:
    """One row per service; `ok` is false for a service that is not running, or not healthy."""
    open_project(stack)
    current = by_service(retry(lambda: project_containers(stack.project)), stack.services)
    rows = []
    for name in stack.services:
        st = current[name]
        endpoint = ""
        if name == "litellm" and stack.gateway_url:
            endpoint = stack.gateway_url
        elif stack.published.get(name):
            endpoint = "http://" + stack.published[name][0]
        rows.append({"service": name, "state": st.describe() if st.state == "exited" else st.state,
                     "health": st.health or "-", "endpoint": endpoint or "-", "ok": st.ready})
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
