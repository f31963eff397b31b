"""`llmstack doctor`: each check with simulated engine answers (no GPU is needed here)."""

from __future__ import annotations

import json

import pytest

from llmstack import doctor, stackdir
from llmstack.compose import ComposeCli


class FakeHost(doctor.Host):
    def __init__(self, **kw):
        self.info = kw.get("info", {"ServerVersion": "27.3.1", "Runtimes": {"runc": {}, "nvidia": {}},
                                    "DockerRootDir": "/var/lib/docker"})
        self.compose_cli = kw.get("compose", ComposeCli(("docker", "compose"), "2.29.7"))
        self.gpus = kw.get("gpus", ["GPU 0: NVIDIA H100", "GPU 1: NVIDIA H100"])
        self.cdi = kw.get("cdi", [])
        self.busy = kw.get("busy", set())
        self.free_gb = kw.get("free_gb", 500.0)
        self.running = kw.get("running", set())
        self.driver = kw.get("driver")  # unknown unless a test says otherwise
        self.flags = kw.get("cpu_flags")

    def docker_info(self):
        return self.info

    def compose(self):
        return self.compose_cli

    def nvidia_smi(self):
        return self.gpus

    def cdi_specs(self):
        return self.cdi

    def nvidia_driver(self):
        return self.driver

    def cpu_flags(self):
        return self.flags

    def gpu_memory(self):
        return None  # unknown unless a test says otherwise

    def port_free(self, address, port):
        return (address, port) not in self.busy

    def disk_free_gb(self, path):
        return self.free_gb

    def running_services(self, stack, compose):
        return self.running


def by_check(results):
    return {r.check: r for r in results}


@pytest.fixture
def gpu_stack(cli, workdir) -> stackdir.StackDir:
    result = cli("render", "--model", "./models/Qwen2.5-7B-Instruct", "--gpus", "0,1", "--name", "g")
    assert result.exit_code == 0, result.stderr
    return stackdir.load("g")


@pytest.fixture
def hub_stack(cli, workdir) -> stackdir.StackDir:
    result = cli("render", "--model", "Qwen/Qwen2.5-7B-Instruct", "--gpus", "2", "--name", "h")
    assert result.exit_code == 0, result.stderr
    return stackdir.load("h")


def test_all_green_on_a_ready_gpu_host(gpu_stack):
    results = doctor.run_checks(gpu_stack, FakeHost())
    assert doctor.failed(results) == []
    checks = by_check(results)
    assert checks["Docker engine"].detail == "version 27.3.1"
    assert checks["NVIDIA container runtime"].status == "pass"
    assert checks["GPUs"].detail == "2 visible, 2 needed"
    assert checks["Port 127.0.0.1:4000"].status == "pass"
    assert checks[".env master key"].status == "pass"


def test_engine_unreachable(gpu_stack):
    checks = by_check(doctor.run_checks(gpu_stack, FakeHost(info=None)))
    assert checks["Docker engine"].status == "fail" and "start dockerd" in checks["Docker engine"].fix


def test_compose_missing_or_old(gpu_stack):
    assert by_check(doctor.run_checks(gpu_stack, FakeHost(compose=None)))["Docker Compose"].status == "fail"
    old = by_check(doctor.run_checks(gpu_stack, FakeHost(compose=ComposeCli(("docker", "compose"), "2.23.3"))))
    assert old["Docker Compose"].status == "warn" and "never passes healthcheck start_interval" in \
        old["Docker Compose"].detail
    new = by_check(doctor.run_checks(gpu_stack, FakeHost(compose=ComposeCli(("docker", "compose"), "2.24.0"))))
    assert new["Docker Compose"].status == "pass"


def compose_on_engine(stack, compose_version: str, engine: str):
    host = FakeHost(compose=ComposeCli(("docker", "compose"), compose_version),
                    info={"ServerVersion": engine, "Runtimes": {"runc": {}, "nvidia": {}}})
    return by_check(doctor.run_checks(stack, host))["Docker Compose"]


def test_start_interval_needs_engine_25_with_compose_2_24_to_5_0(gpu_stack):
    """Compose 2.24.0 .. 5.0.x refuse every rendered healthcheck (they all carry start_interval) on an
    engine older than 25 (pkg/compose/convert.go); 5.1+ leave it to the engine, which ignores it."""
    refused = compose_on_engine(gpu_stack, "2.29.7", "20.10.24+dfsg1")
    assert refused.status == "fail"
    assert "can't set healthcheck.start_interval as feature require Docker Engine v25 or later" in refused.detail
    assert "upgrade the engine to 25" in refused.fix and "Compose 5.1 or newer" in refused.fix
    assert compose_on_engine(gpu_stack, "5.0.2", "24.0.7").status == "fail"
    assert compose_on_engine(gpu_stack, "2.29.7", "25.0.0").status == "pass"
    ignored = compose_on_engine(gpu_stack, "5.6.1", "20.10.24+dfsg1")  # what CI runs: works, probes at `interval`
    assert ignored.status == "pass" and "Engine 20 ignores start_interval" in ignored.detail


def test_missing_nvidia_runtime_is_caught_before_up(gpu_stack):
    host = FakeHost(info={"ServerVersion": "27.3.1", "Runtimes": {"runc": {}}})
    check = by_check(doctor.run_checks(gpu_stack, host))["NVIDIA container runtime"]
    assert check.status == "fail"
    assert 'could not select device driver "nvidia"' in check.detail
    assert "nvidia-ctk runtime configure" in check.fix
    cdi = FakeHost(info={"ServerVersion": "27.3.1", "Runtimes": {"runc": {}}}, cdi=["/etc/cdi/nvidia.yaml"])
    assert by_check(doctor.run_checks(gpu_stack, cdi))["NVIDIA container runtime"].status == "pass"


def test_gpus_visible_and_enough(gpu_stack, hub_stack):
    assert by_check(doctor.run_checks(gpu_stack, FakeHost(gpus=None)))["GPUs"].status == "fail"
    few = by_check(doctor.run_checks(gpu_stack, FakeHost(gpus=["GPU 0: A100"])))["GPUs"]
    assert few.status == "fail" and few.detail == "1 visible, the stack reserves 2"
    assert by_check(doctor.run_checks(hub_stack, FakeHost(gpus=["GPU 0: A100"])))["GPUs"].status == "fail"
    assert by_check(doctor.run_checks(hub_stack, FakeHost()))["GPUs"].status == "pass"


def test_cpu_stack_needs_no_gpu(cli, workdir):
    assert cli("render", "--model", "./models/tiny.gguf", "--cpu", "--name", "c").exit_code == 0
    checks = by_check(doctor.run_checks(stackdir.load("c"), FakeHost(gpus=None, info={"ServerVersion": "27.0.3"})))
    assert "GPUs" not in checks and "NVIDIA container runtime" not in checks
    assert doctor.failed(list(checks.values())) == []


def test_model_files_present_and_readable(gpu_stack, workdir):
    import shutil

    shutil.rmtree(workdir / "models" / "Qwen2.5-7B-Instruct")
    results = doctor.run_checks(gpu_stack, FakeHost())
    check = by_check(results)["Files for backend: /models/Qwen2.5-7B-Instruct"]
    assert check.status == "fail" and "Qwen2.5-7B-Instruct is missing" in check.detail
    # the .env override is honoured, as Compose would
    other = workdir / "elsewhere"
    other.mkdir()
    (gpu_stack.directory / ".env").write_text(
        (gpu_stack.directory / ".env").read_text() + f"LLMSTACK_MODEL_DIR={other}\n")
    check = by_check(doctor.run_checks(gpu_stack, FakeHost()))["Files for backend: /models/Qwen2.5-7B-Instruct"]
    assert check.status == "pass" and check.detail == str(other)


def test_published_port_in_use(gpu_stack):
    busy = by_check(doctor.run_checks(gpu_stack, FakeHost(busy={("127.0.0.1", 4000)})))["Port 127.0.0.1:4000"]
    assert busy.status == "fail" and "--litellm-port" in busy.fix
    ours = by_check(doctor.run_checks(gpu_stack, FakeHost(busy={("127.0.0.1", 4000)}, running={"litellm"})))
    assert ours["Port 127.0.0.1:4000"].status == "pass"


def test_real_port_probe_sees_a_listener():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert doctor.Host().port_free("127.0.0.1", port) is False


def test_real_port_probe_ignores_connections_in_time_wait():
    """A stack that just went down leaves its served connections in TIME_WAIT on its port. Docker's
    listener (docker-proxy, Go) sets SO_REUSEADDR and binds the port again at once, so starting the
    stack again must not fail pre-flight."""
    import socket

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as docker-proxy's listener
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first: TIME_WAIT on 127.0.0.1:port
    server.close()
    client.recv(1)
    client.close()
    assert doctor.Host().port_free("127.0.0.1", port) is True


def test_env_master_key(gpu_stack, monkeypatch):
    monkeypatch.delenv("LITELLM_MASTER_KEY", raising=False)
    (gpu_stack.directory / ".env").unlink()
    check = by_check(doctor.run_checks(gpu_stack, FakeHost()))[".env master key"]
    assert check.status == "fail" and ".env.example" in check.fix
    (gpu_stack.directory / ".env").write_text("LITELLM_MASTER_KEY=sk-1234\n")
    assert by_check(doctor.run_checks(gpu_stack, FakeHost()))[".env master key"].status == "warn"


def test_disk_for_hf_cache(hub_stack, gpu_stack):
    low = by_check(doctor.run_checks(hub_stack, FakeHost(free_gb=3.0)))["Disk for the HF cache"]
    assert low.status == "warn" and "3 GB free" in low.detail
    assert by_check(doctor.run_checks(hub_stack, FakeHost()))["Disk for the HF cache"].status == "pass"
    assert "Disk for the HF cache" not in by_check(doctor.run_checks(gpu_stack, FakeHost()))


def test_doctor_cli_exit_code_and_json(cli, gpu_stack, monkeypatch):
    monkeypatch.setattr(doctor, "Host", lambda: FakeHost(gpus=None))
    result = cli("doctor", str(gpu_stack.directory), "--json")
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    assert {"check", "status", "detail", "fix"} <= set(rows[0])
    monkeypatch.setattr(doctor, "Host", lambda: FakeHost())
    assert cli("doctor", str(gpu_stack.directory)).exit_code == 0


def test_up_stops_on_a_failed_preflight_check(cli, gpu_stack, monkeypatch):
    monkeypatch.setattr(doctor, "Host", lambda: FakeHost(info={"ServerVersion": "27", "Runtimes": {"runc": {}}}))
    result = cli("up", str(gpu_stack.directory))
    assert result.exit_code == 1
    assert 'NVIDIA container runtime: the stack reserves GPUs' in result.stderr
    assert "llmstack doctor" in result.stderr


class MemoryHost(FakeHost):
    def __init__(self, gib: float, **kw):
        super().__init__(**kw)
        self.gib = gib

    def gpu_memory(self):
        return {0: self.gib, 1: self.gib}


def test_the_memory_plan_is_checked_against_this_hosts_gpus(cli, workdir):
    result = cli("render", "--model", "./models/Qwen2.5-7B-Instruct", "--gpus", "device=1", "--gpu-memory", "80",
                 "--name", "m")
    assert result.exit_code == 0, result.stderr
    stack = stackdir.load("m")
    roomy = by_check(doctor.run_checks(stack, MemoryHost(80.0)))["GPU memory for backend"]
    assert roomy.status == "pass" and "(rendered for 80.0 GiB GPUs)" in roomy.detail
    small = by_check(doctor.run_checks(stack, MemoryHost(16.0)))["GPU memory for backend"]
    assert small.status == "fail" and "x 16 GiB x 1 GPU(s) here = 14.4 GiB" in small.detail
    assert "render again on this host" in small.fix
    assert "GPU memory for backend" not in by_check(doctor.run_checks(stack, FakeHost()))  # unknown: no check


def test_an_upstream_key_the_gateway_reads_must_be_in_env(cli, workdir, monkeypatch):
    result = cli("render", "--backend", "external", "--model", "m", "--api-base", "http://gpu-1:8000/v1",
                 "--api-key-env", "UPSTREAM_KEY", "--name", "x")
    assert result.exit_code == 0, result.stderr
    monkeypatch.delenv("UPSTREAM_KEY", raising=False)
    stack = stackdir.load("x")
    missing = by_check(doctor.run_checks(stack, FakeHost()))[".env UPSTREAM_KEY"]
    assert missing.status == "fail" and "add UPSTREAM_KEY=" in missing.fix
    with open(workdir / "compose" / "x" / ".env", "a") as env:
        env.write("UPSTREAM_KEY=sk-upstream-secret\n")
    assert by_check(doctor.run_checks(stack, FakeHost()))[".env UPSTREAM_KEY"].status == "pass"
