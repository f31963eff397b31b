"""The runtime commands against a real Docker engine, where the code before issue #16's fixes
did not tell the truth: a re-render `up` did not apply ("Ready in 0.0s", an orphan left in
Created), an exited backend made `up` fail at once, two directories with one --name shared a
project, a hung backend was "ready" and made `smoke` hang, `status` always exited 0, a gateway
whose workers kept re-spawning showed "(no output)"."""

from __future__ import annotations

import json
import shlex
import subprocess
import time

import httpx
import pytest

from tests.e2e.conftest import inspect, project_containers

pytestmark = pytest.mark.e2e


def containers_by_service(project: str) -> dict[str, dict]:
    found = {}
    for cid in project_containers(project):
        data = inspect(cid)
        found.setdefault(data["Config"]["Labels"]["com.docker.compose.service"], []).append(data)
    return found


def regen_args(directory) -> list[str]:
    """The render command in the header of the directory's compose file (without `llmstack`)."""
    header = (directory / "docker-compose.yml").read_text().split("#   ", 1)[1].split("\n", 1)[0]
    return shlex.split(header)[1:]


def models(stack) -> list[str]:
    answer = httpx.get(f"{stack.gateway}/v1/models", headers={"Authorization": f"Bearer {stack.key}"}, timeout=10)
    return [m["id"] for m in answer.json()["data"]]


def up(stacks, stack, *extra: str):
    return stacks.cli("up", str(stack.directory), "--timeout", "300", *extra)


def test_up_after_a_rerender_applies_it(stacks):
    stack = stacks.render(startup=1)
    first = up(stacks, stack)
    assert first.exit_code == 0, first.stdout + first.stderr
    before = {s: [c["Id"] for c in cs] for s, cs in containers_by_service(stack.name).items()}
    # The backend's command changes (Compose recreates it) and the gateway's alias (only
    # litellm-config.yaml changes: Compose alone would keep the running gateway).
    rerender = stacks.cli(*regen_args(stack.directory), "--extra-arg=--fake-chunks=5", "--litellm-alias", "renamed")
    assert rerender.exit_code == 0, rerender.stderr
    second = up(stacks, stack)
    assert second.exit_code == 0, second.stdout + second.stderr
    assert "Ready in 0.0s" not in second.stdout
    # Both files LiteLLM reads changed (the startup hook's header names the render command).
    assert ("Recreating litellm: litellm-config.yaml, llmstack_startup.py changed since it started"
            in second.stdout)
    after = containers_by_service(stack.name)
    assert all(len(cs) == 1 for cs in after.values()), {s: len(cs) for s, cs in after.items()}  # no orphan
    assert all(c["State"]["Status"] == "running" for cs in after.values() for c in cs)
    assert after["backend"][0]["Id"] not in before["backend"] and after["litellm"][0]["Id"] not in before["litellm"]
    assert "--fake-chunks=5" in after["backend"][0]["Args"]
    said = subprocess.run([*stacks_compose(stack), "config", "--hash", "*"], capture_output=True, text=True,
                          check=True).stdout
    hashes = dict(line.split() for line in said.splitlines())
    assert {s: cs[0]["Config"]["Labels"]["com.docker.compose.config-hash"] for s, cs in after.items()} == hashes
    assert models(stack) == ["renamed"]


def stacks_compose(stack) -> list[str]:
    from llmstack.compose import find_compose

    return [*find_compose().argv, "--project-directory", str(stack.directory), "-f",
            str(stack.directory / "docker-compose.yml")]


def test_up_restarts_a_backend_that_exited(stacks):
    stack = stacks.render(startup=1)
    assert up(stacks, stack).exit_code == 0
    backend = containers_by_service(stack.name)["backend"][0]["Id"]
    subprocess.run(["docker", "kill", backend], check=True, capture_output=True)
    for _ in range(50):
        if inspect(backend)["State"]["Status"] == "exited":
            break
        time.sleep(0.2)
    assert inspect(backend)["State"]["ExitCode"] == 137
    again = up(stacks, stack)
    assert again.exit_code == 0, again.stdout + again.stderr
    assert inspect(backend)["State"]["Status"] == "running"
    assert models(stack) == ["local-model"]


def test_two_directories_rendered_with_one_name_do_not_share_a_project(stacks):
    first = stacks.render(startup=0)
    assert up(stacks, first).exit_code == 0
    ids = sorted(project_containers(first.name))
    second = stacks.render("--name", first.name, startup=0)  # another directory, the same --name
    assert second.directory != first.directory
    for command in (("up", str(second.directory), "--timeout", "60"), ("down", str(second.directory)),
                    ("status", str(second.directory))):
        result = stacks.cli(*command)
        assert result.exit_code == 1, result.output
        assert result.stderr.strip().splitlines() == [
            f"llmstack: error: Compose project {first.name!r} belongs to {first.directory}, not "
            f"{second.directory}: two directories with one project replace each other's containers; re-render "
            f"this one with another --name (e.g. --name {first.name}-2), or stop the other first "
            f"(`llmstack down {first.directory}`)"]
    assert sorted(project_containers(first.name)) == ids  # the first stack untouched
    status = stacks.cli("status", str(first.directory))
    assert status.exit_code == 0, status.output  # (failed twice in full runs, never alone: say why)


def test_a_hung_backend_is_not_ready_smoke_is_bounded_status_says_so(stacks):
    stack = stacks.render(startup=0)
    assert up(stacks, stack).exit_code == 0
    backend = containers_by_service(stack.name)["backend"][0]["Id"]
    subprocess.run(["docker", "kill", "--signal", "STOP", backend], check=True, capture_output=True)
    try:
        started = time.monotonic()
        hung = stacks.cli("up", str(stack.directory), "--timeout", "20")
        assert hung.exit_code == 1, hung.stdout + hung.stderr
        assert time.monotonic() - started < 120
        assert "Ready" not in hung.stdout
        assert ("a request for local-model got no answer within 30 s (backend hung?)" in hung.stderr
                or "backend failed (unhealthy)" in hung.stderr), hung.stderr
        started = time.monotonic()
        smoke = stacks.cli("smoke", str(stack.directory), "--timeout", "5", "--json")
        assert time.monotonic() - started < 60
        assert smoke.exit_code == 1
        checks = json.loads(smoke.stdout)
        assert checks[0]["detail"].startswith("timed out: no complete answer within 5 s")
        assert all(c["detail"].startswith("skipped: OpenAI chat timed out") for c in checks[1:])
    finally:
        subprocess.run(["docker", "kill", "--signal", "CONT", backend], check=True, capture_output=True)
    paused = subprocess.run(["docker", "pause", backend], capture_output=True, text=True)
    assert paused.returncode == 0, (paused.stderr, inspect(backend)["State"])
    try:
        status = stacks.cli("status", str(stack.directory), "--json")
        assert status.exit_code == 1
        assert {r["service"]: r["state"] for r in json.loads(status.stdout)}["backend"] == "paused"
        assert "llmstack: not running or not healthy: backend (paused" in status.stderr
        paused_up = stacks.cli("up", str(stack.directory), "--timeout", "20")
        assert paused_up.exit_code == 1 and "Ready" not in paused_up.stdout
        assert f"resume it with `docker unpause {backend[:12]}`" in paused_up.stderr
    finally:
        subprocess.run(["docker", "unpause", backend], check=True, capture_output=True)


def test_a_gateway_whose_workers_keep_respawning_is_explained(stacks):
    from tests.e2e.images import respawning_gateway_image

    stack = stacks.render("--litellm-image", respawning_gateway_image(), "--litellm-workers", "2", startup=0)
    result = stacks.cli("up", str(stack.directory), "--timeout", "25")
    assert result.exit_code == 1
    assert ("litellm not ready after 25s (gateway starting); its uvicorn workers died and were re-spawned"
            in result.stderr)
    assert (f"set LLMSTACK_LITELLM_WORKERS=1 in {stack.directory}/.env, then `llmstack up {stack.directory}` again"
            in result.stderr)
    assert "LITELLM_LOG=WARNING, which hides the gateway's INFO lines" in result.stderr
