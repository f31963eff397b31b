"""The runtime commands without a Docker engine: where the master key may go (an untouched
manifest, the published URL, never a proxy for loopback), bounded smoke checks, status exit
codes, the verdicts of `up` on simulated engine answers, `.env` files that are not UTF-8.

Each test names what the code before issue #16's fixes did."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from llmstack import runtime, stackdir
from llmstack.compose import Container, TransientEngineError
from llmstack.stamp import stamp

TINY = ("--model", "./models/tiny.gguf", "--cpu")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Recorder:
    """A TCP listener that records every connection (and what was sent on it), answering nothing
    (hang=True) or closing at once."""

    def __init__(self, hang: bool = False) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.hang = hang
        self.open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(0.5)
            try:
                self.received.append(conn.recv(65536))
            except OSError:
                self.received.append(b"")
            if self.hang:
                self.open.append(conn)
            else:
                conn.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        for conn in self.open:
            conn.close()
        self.sock.close()


class FakeGateway:
    """Enough of LiteLLM's HTTP surface for `up`'s probe and `smoke`'s first checks."""

    def __init__(self, port: int, aliases: list[str]) -> None:
        self.requests: list[tuple[str, str, str]] = []  # method, path, Authorization or x-api-key
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                gateway.requests.append(("GET", self.path, self.headers.get("Authorization", "")))
                if self.path == "/v1/models":
                    self._answer(200, {"data": [{"id": a} for a in aliases]})
                else:
                    self._answer(200, {"status": "ok"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                key = self.headers.get("Authorization") or self.headers.get("x-api-key") or ""
                gateway.requests.append(("POST", self.path, key))
                self._answer(200, {"choices": [{"message": {"role": "assistant", "content": "OK"}}]})

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def render(cli, *args: str) -> None:
    result = cli("render", *TINY, *args)
    assert result.exit_code == 0, result.stderr


def key_of(directory: Path) -> str:
    return (directory / ".env").read_text().split("LITELLM_MASTER_KEY=", 1)[1].strip()


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch):
    monkeypatch.delenv("LITELLM_MASTER_KEY", raising=False)


# ---- .env that is not UTF-8 ----------------------------------------------------------------

@pytest.mark.parametrize("command", [("doctor",), ("up",), ("smoke",), ("claude", "--print-env")])
def test_env_file_with_a_latin1_byte_is_one_line_naming_file_and_line(cli, workdir, command):
    """Before: a UnicodeDecodeError traceback from doctor, up, smoke and claude."""
    render(cli, "--name", "s")
    env = workdir / "compose" / "s" / ".env"
    env.write_bytes(env.read_bytes() + b"# caf\xe9\n")
    result = cli(command[0], "s", *command[1:])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0] == (f"llmstack: error: {env.resolve()}: line 3 is not UTF-8 text (byte 0xe9 at column 6); "
                        "save the file as UTF-8 (a key is ASCII)")


# ---- where the key may go ------------------------------------------------------------------

def edit_manifest(directory: Path, old: str, new: str, restamp: bool) -> None:
    path = directory / "llmstack-manifest.yaml"
    text = path.read_text().replace(old, new)
    if restamp:  # as someone who knows the (unkeyed) stamp would
        import re

        text = stamp(re.sub(r"# llmstack-hash: sha256:[0-9a-f]{16}", "# llmstack-hash: sha256:" + "-" * 16, text))
    path.write_text(text)


@pytest.mark.parametrize("restamp", [False, True])
@pytest.mark.parametrize("command", [("smoke",), ("claude", "--print-env"), ("claude", "--settings"), ("up",)])
def test_key_never_goes_where_an_edited_manifest_points(cli, workdir, monkeypatch, command, restamp):
    """Before: smoke, claude and up sent the key to whatever gateway_url the manifest held."""
    catcher = Recorder()
    render(cli, "--name", "s")
    directory = workdir / "compose" / "s"
    edit_manifest(directory, '"gateway_url": "http://127.0.0.1:4000"', f'"gateway_url": "{catcher.url}"', restamp)
    monkeypatch.setattr(runtime, "check_engine", lambda: "27.0")  # `up` would get no further anyway
    result = cli(command[0], "s", *command[1:])
    catcher.close()
    assert result.exit_code == 2, result.output
    assert key_of(directory) not in result.output
    assert catcher.received == []
    message = result.stderr.strip().splitlines()
    assert len(message) == 1
    if restamp:
        assert (f"records the gateway at {catcher.url} but docker-compose.yml publishes it at 127.0.0.1:4000; "
                "the key is not sent there") in message[0]
    else:
        assert "llmstack-manifest.yaml was edited by hand; the runtime commands send the master key only" in message[0]


def test_gateway_url_matches_what_compose_publishes(cli, workdir):
    render(cli, "--name", "v6", "--bind", "::1", "--litellm-port", "4100")
    stack = stackdir.load("v6")
    assert stack.gateway() == ("http://[::1]:4100", key_of(workdir / "compose" / "v6"))
    render(cli, "--name", "host", "--network", "host", "--litellm-port", "4200")
    assert stackdir.load("host").gateway()[0] == "http://127.0.0.1:4200"
    render(cli, "--name", "all", "--bind", "0.0.0.0")
    assert stackdir.load("all").gateway()[0] == "http://127.0.0.1:4000"


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_smoke_never_sends_the_key_through_a_proxy_to_a_loopback_gateway(cli, workdir, monkeypatch, variable):
    """Before: httpx honoured HTTP_PROXY for 127.0.0.1, so the proxy received the master key."""
    proxy = Recorder()
    port = free_port()
    render(cli, "--name", "s", "--litellm-port", str(port))
    gateway = FakeGateway(port, ["local-model"])
    monkeypatch.setenv(variable, proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    try:
        cli("smoke", "s", "--timeout", "5")
    finally:
        gateway.close()
        proxy.close()
    assert proxy.received == []
    key = key_of(workdir / "compose" / "s")
    assert ("POST", "/v1/chat/completions", f"Bearer {key}") in gateway.requests


def test_ups_gateway_probe_never_uses_a_proxy_for_loopback(monkeypatch):
    from llmstack.smoke import http_client

    proxy = Recorder()
    port = free_port()
    gateway = FakeGateway(port, ["a"])
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("ALL_PROXY", proxy.url)
    try:
        ready = runtime._gateway_probe(http_client(f"http://127.0.0.1:{port}", 5), "sk-secret", ["a"], True)
    finally:
        gateway.close()
        proxy.close()
    assert ready == (True, "ready") and proxy.received == []
    assert ("POST", "/v1/chat/completions", "Bearer sk-secret") in gateway.requests


def test_claude_runs_with_no_proxy_for_a_loopback_gateway(cli, workdir):
    from llmstack import claude

    render(cli, "--name", "s", "--max-model-len", "65536")
    env = claude.environment(stackdir.load("s"))
    run = claude.run_environment(env, {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "corp.example"})
    assert run["NO_PROXY"] == run["no_proxy"] == "corp.example,127.0.0.1,localhost,::1"
    assert run["HTTPS_PROXY"] == "http://proxy:3128"  # kept for anything else Claude Code fetches
    printed = cli("claude", "s", "--print-env").stdout
    assert 'export NO_PROXY="${NO_PROXY:+$NO_PROXY,}127.0.0.1,localhost,::1"' in printed


# ---- smoke: bounded ------------------------------------------------------------------------

def test_smoke_against_a_hung_gateway_ends_in_bounded_time_naming_the_check(cli, workdir):
    """Before: smoke waited 120 s per request (many minutes in all) and printed nothing meanwhile."""
    hung = Recorder(hang=True)
    render(cli, "--name", "s", "--litellm-port", str(hung.port))
    started = time.monotonic()
    result = cli("smoke", "s", "--timeout", "2", "--json")
    elapsed = time.monotonic() - started
    hung.close()
    assert result.exit_code == 1
    assert elapsed < 15
    checks = json.loads(result.stdout)
    assert checks[0]["check"] == "OpenAI chat" and checks[0]["detail"].startswith(
        "timed out: no complete answer within 2 s (the backend may be hung or still loading")
    assert all(c["detail"] == "skipped: OpenAI chat timed out, this alias does not answer" for c in checks[1:])
    assert "10 of 10 checks failed" in result.stderr or "checks failed" in result.stderr


def test_a_stream_that_never_ends_is_cut_at_the_deadline():
    import httpx

    from llmstack.smoke import CheckTimedOut, _sse_events

    class Trickle(httpx.SyncByteStream):
        def __iter__(self):
            while True:
                time.sleep(0.05)
                yield b'data: {"choices": []}\n\n'

    response = httpx.Response(200, stream=Trickle())
    with pytest.raises(CheckTimedOut):
        _sse_events(response, time.monotonic() + 0.3)


def test_anthropic_streams_may_carry_ping_events_anywhere():
    """A slow answer through LiteLLM began with a `ping` event (seen with the real llama.cpp
    server, tests/e2e/test_exposure.py); Anthropic's streams "may include any number of ping events"."""
    import httpx

    from llmstack.smoke import Smoke

    events = [("ping", {"type": "ping"}), ("message_start", {"type": "message_start"}),
              ("content_block_start", {"type": "content_block_start", "content_block": {"type": "text"}}),
              ("ping", {"type": "ping"}),
              ("content_block_delta", {"type": "content_block_delta", "delta": {"text": "hi"}}),
              ("message_stop", {"type": "message_stop"})]
    body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()
    smoke = Smoke("http://127.0.0.1:9", "sk-x", 5)
    smoke.client = httpx.Client(base_url="http://127.0.0.1:9",
                                transport=httpx.MockTransport(lambda request: httpx.Response(200, content=body)))
    assert smoke.claude_code("claude-opus-4-5") == "4 events, blocks: text"
    assert smoke.anthropic_stream("a") == "1 deltas"


# ---- up's verdicts on simulated engine answers ---------------------------------------------

def container(service: str, state: str = "running", health: str = "healthy", **kw) -> Container:
    values = dict(id=f"{service}-id", service=service, state=state, health=health, exit_code=0, restart_count=0,
                  oom_killed=False, started_at="2026-11-28T10:00:00.123456789Z", pid=0, config_hash=f"{service}-hash",
                  working_dir="", config_files="", args=[], mounts=[])
    values.update(kw)
    return Container(**values)  # type: ignore[arg-type]


class FakeProject:
    def __init__(self, directory: Path):
        self.directory = directory
        self.compose_file = directory / "docker-compose.yml"

    def config_hashes(self):
        return {"backend": "backend-hash", "litellm": "litellm-hash"}

    def logs_tail(self, service, lines=30):
        return f"{service} log line"


class DoneProc:
    returncode = 0

    def poll(self):
        return 0


@pytest.fixture
def no_gateway_stack(cli, workdir) -> stackdir.StackDir:
    render(cli, "--name", "s", "--no-litellm")
    return stackdir.load("s")


def waiter(stack, echo=None, timeout=5.0):
    import io

    lines: list[str] = []
    return runtime._Up(FakeProject(stack.directory), stack, None, DoneProc(), io.BytesIO(), time.monotonic(),
                       timeout, echo or lines.append, lines.append), lines


def test_a_transient_engine_error_while_polling_is_retried(no_gateway_stack, monkeypatch):
    """Before: `No such container` from `compose ps` while polling ended `up` with an error."""
    answers = [TransientEngineError("`docker inspect` failed: Error: No such object: 0123"),
               TransientEngineError("`docker ps` failed: Error response from daemon: No such container: 0123"),
               [container("backend")]]

    def containers(project):
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(runtime, "project_containers", containers)
    up, _ = waiter(no_gateway_stack)
    assert up.run(poll=0.01) < 5


def test_an_engine_that_keeps_failing_ends_up(no_gateway_stack, monkeypatch):
    def containers(project):
        raise TransientEngineError("`docker ps` failed: No such container: x")

    monkeypatch.setattr(runtime, "project_containers", containers)
    up, _ = waiter(no_gateway_stack)
    with pytest.raises(TransientEngineError):
        up.run(poll=0.001)


@pytest.mark.parametrize(("state", "health", "expected"), [
    ("paused", "healthy", "backend is paused; resume it with `docker unpause backend-id`"),
    ("exited", "", "backend failed (exited with code 137, out of memory)"),
    ("running", "unhealthy", "backend failed (unhealthy)"),
])
def test_up_judges_the_container_compose_left(no_gateway_stack, monkeypatch, state, health, expected):
    """Before: a paused backend whose last health was `healthy` made `up` say "Ready"."""
    monkeypatch.setattr(runtime, "project_containers", lambda project: [
        container("backend", state, health, exit_code=137 if state == "exited" else 0,
                  oom_killed=state == "exited")])
    up, lines = waiter(no_gateway_stack)
    with pytest.raises(runtime.UpFailed, match="^" + expected.replace("(", r"\(").replace(")", r"\)")):
        up.run(poll=0.01)
    assert "backend log line" in lines


def test_a_container_from_an_older_file_is_not_taken_for_the_new_one(no_gateway_stack, monkeypatch):
    monkeypatch.setattr(runtime, "project_containers",
                        lambda project: [container("backend", config_hash="from-the-last-render")])
    up, _ = waiter(no_gateway_stack)
    with pytest.raises(runtime.UpFailed, match="runs an older configuration than docker-compose.yml"):
        up.run(poll=0.01)


class Waiting:
    """`docker compose up -d` still waiting for the backend to turn healthy."""

    returncode = None

    def poll(self):
        return None


def test_a_crash_loop_is_reported_while_compose_still_waits(cli, workdir, monkeypatch):
    render(cli, "--name", "s")
    stack = stackdir.load("s")
    counts = iter(range(0, 100))
    monkeypatch.setattr(runtime, "project_containers", lambda project: [
        container("backend", "running", "starting"), container("litellm", "restarting", "",
                                                               restart_count=next(counts))])
    up, _ = waiter(stack)
    up.proc = Waiting()
    with pytest.raises(runtime.UpFailed, match=r"litellm keeps restarting \(restarted 2 times while waiting"):
        up.run(poll=0.001)


def test_a_backend_that_exits_while_starting_fails_up_at_its_first_restart(no_gateway_stack, monkeypatch):
    """Before: only after three tries (vLLM on a CPU takes minutes to fail each one), and the
    verdict did not say why."""
    counts = iter([0, 0, 1, 1])
    monkeypatch.setattr(runtime, "project_containers", lambda project: [
        container("backend", "running", "starting", restart_count=next(counts, 1))])
    up, lines = waiter(no_gateway_stack)
    up.project.logs_tail = lambda service, lines=30: ("backend-1  | usage: vllm [-h]\n"
                                                     "backend-1  | vllm: error: unrecognized arguments: --bogus\n")
    up.proc = Waiting()
    with pytest.raises(runtime.UpFailed, match=r"^backend exited while starting and was restarted \(vllm: error: "
                                               r"unrecognized arguments: --bogus\); inspect with"):
        up.run(poll=0.001)
    assert any("vllm: error: unrecognized arguments: --bogus" in line for line in lines)


class FailedProc:
    returncode = 1

    def poll(self):
        return 1


def test_a_backend_compose_gave_up_on_is_named_with_its_own_error_line(no_gateway_stack, monkeypatch):
    """Before: only Compose's line (`dependency failed to start: container ... is unhealthy`), seen
    with the real vLLM refusing a flag before its first restart was noticed."""
    import io

    monkeypatch.setattr(runtime, "project_containers", lambda project: [
        container("backend", "restarting", "unhealthy")])
    up, _ = waiter(no_gateway_stack)
    up.project.logs_tail = lambda service, lines=30: "backend-1  | vllm: error: unrecognized arguments: --bogus\n"
    up.proc = FailedProc()
    up.output = io.BytesIO(b"dependency failed to start: container s-backend-1 is unhealthy\n")
    with pytest.raises(runtime.UpFailed, match=r"^backend did not start \(vllm: error: unrecognized arguments: "
                                               r"--bogus\): dependency failed to start: container s-backend-1 is "
                                               r"unhealthy; inspect with"):
        up.run(poll=0.001)


@pytest.mark.parametrize(("log", "said"), [
    ("backend-1  | Traceback (most recent call last):\nbackend-1  | ValueError: Available memory on node 0 (1/2 "
     "GiB)\nbackend-1  | RuntimeError: Engine core initialization failed. See root cause above.",
     "ValueError: Available memory on node 0 (1/2 GiB)"),
    ("backend-1  | torch._inductor.exc.InvalidCxxCompiler: No working C++ compiler found",
     "torch._inductor.exc.InvalidCxxCompiler: No working C++ compiler found"),
    ("backend-1  | (EngineCore pid=7) RuntimeError: Insufficient space in /dev/shm",
     "RuntimeError: Insufficient space in /dev/shm"),
    ("backend-1  | INFO:     Started server\nbackend-1  | WARNING: the error rate is low\nTraceback (most recent call "
     "last):", ""),
])
def test_the_servers_own_error_line_is_found(log, said):
    assert runtime.error_line(log) == said


def test_project_of_another_directory_is_refused_naming_it(cli, workdir, monkeypatch, tmp_path):
    """Before: a second directory rendered with the same --name took over the first's containers."""
    render(cli, "--name", "shared")
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.setattr(runtime, "check_engine", lambda: "27.0")
    monkeypatch.setattr(runtime, "find_compose", lambda: None)
    monkeypatch.setattr(runtime, "project_containers",
                        lambda project: [container("backend", working_dir=str(other))])
    for command in ("up", "down", "status", "logs"):
        if command == "up":
            monkeypatch.setattr("llmstack.cli._preflight", lambda stack: None)
        result = cli(command, "shared")
        assert result.exit_code == 1, result.output
        assert result.stderr.strip().splitlines() == [
            f"llmstack: error: Compose project 'shared' belongs to {other}, not {(workdir / 'compose' / 'shared')}: "
            "two directories with one project replace each other's containers; re-render this one with another "
            f"--name (e.g. --name shared-2), or stop the other first (`llmstack down {other}`)"]


def test_status_exits_1_when_a_service_is_not_running_or_healthy(cli, workdir, monkeypatch):
    """Before: `status` exited 0 whatever the state."""
    render(cli, "--name", "s")
    monkeypatch.setattr(runtime, "open_project", lambda stack: None)
    answers = {"ok": [container("backend"), container("litellm")],
               "paused": [container("backend", "paused"), container("litellm")],
               "missing": [container("backend")],
               "unhealthy": [container("backend", health="unhealthy"), container("litellm")]}
    for name, containers in answers.items():
        monkeypatch.setattr(runtime, "project_containers", lambda project, c=containers: c)
        result = cli("status", "s")
        assert result.exit_code == (0 if name == "ok" else 1), (name, result.output)
    assert result.stderr.strip() == "llmstack: not running or not healthy: backend (running, unhealthy)"


def test_files_changed_since_a_container_started_make_it_stale(workdir):
    config = workdir / "litellm-config.yaml"
    config.write_text("x")
    mount = [{"Type": "bind", "Source": str(config), "Destination": "/app/config.yaml"}]
    before = container("litellm", started_at="2000-01-01T00:00:00.5Z", mounts=mount)
    after = container("litellm", started_at="2999-01-01T00:00:00.123456789Z", mounts=mount)
    assert runtime.stale_mounts([before], workdir) == {"litellm": ["litellm-config.yaml"]}
    assert runtime.stale_mounts([after], workdir) == {}
    assert runtime._timestamp("0001-01-01T00:00:00Z") is None


def test_workers_variable_is_the_one_render_writes():
    from llmstack.targets.compose import WORKERS_VARIABLE

    assert runtime.WORKERS_VARIABLE == WORKERS_VARIABLE
