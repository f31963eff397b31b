"""Exposure (issue 16 item 5): a backend published beyond this host gets a key of its own.

What is proven here on the rendered files (the real server refusing a request without the key and
taking the gateway's is tests/e2e/test_exposure.py):

- where a key is required: published (`--publish-backend`, `--no-litellm`) on a non-loopback
  `--bind`, on either network; every keyable backend on Kubernetes; never on loopback;
- how: the engine's own environment variable from `.env` (vLLM VLLM_API_KEY, llama.cpp
  LLAMA_API_KEY; SGLang, which has only a flag, through a launcher that adds it in memory), the
  gateway sending `os.environ/LLMSTACK_BACKEND_KEY`, the key never in a rendered file, a command
  line or render's output;
- TensorRT-LLM (no key option) refused beyond loopback; an `--extra-arg` key refused without echoing it;
- a stack rendered before keys: `.env` gets the missing key appended, every existing byte kept;
  doctor and Compose say clearly when it is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llmstack import catalog, doctor, stackdir
from llmstack.backends.base import key_launcher
from tests.conftest import compose_binary, snapshot
from tests.test_doctor import FakeHost, by_check

TINY = ("--model", "./models/tiny.gguf", "--cpu")
QWEN = ("--model", "./models/Qwen2.5-7B-Instruct", "--gpus", "1")
ENGINE = ("--model", "./models/engine", "--backend", "trtllm", "--gpus", "1")
KEY = "LLMSTACK_BACKEND_KEY"
REQUIRED = "${LLMSTACK_BACKEND_KEY:?LLMSTACK_BACKEND_KEY is not set: run llmstack render again (it adds the missing " \
           "key to .env)}"


def render(cli, *args: str, name: str = "s"):
    result = cli("render", *args, "--name", name)
    assert result.exit_code == 0, result.stderr
    return result, Path("compose") / name


def env_of(directory: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (directory / ".env").read_text().splitlines()
                if line and not line.startswith("#"))


def compose(directory: Path) -> dict:
    return yaml.safe_load((directory / "docker-compose.yml").read_text())


def no_secret_anywhere(directory: Path, *outputs: str) -> None:
    """No key of .env is in a rendered file or in what render printed (only its first characters)."""
    for value in env_of(directory).values():
        assert len(value) > 20
        for path in directory.iterdir():
            if path.name != ".env" and path.is_file():
                assert value not in path.read_text(), path
        for text in outputs:
            assert value not in text


# ---- where a key is required ------------------------------------------------------------------

@pytest.mark.parametrize("model, variable", [
    (TINY, "LLAMA_API_KEY"),
    (QWEN, "VLLM_API_KEY"),
    (("--model", "./models/Qwen2.5-7B-Instruct", "--backend", "sglang", "--gpus", "1"), None),
])
@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "192.168.10.7"])
def test_published_beyond_loopback_is_keyed(cli, workdir, model, variable, bind):
    result, out = render(cli, *model, "--publish-backend", "--bind", bind)
    backend, gateway = compose(out)["services"]["backend"], compose(out)["services"]["litellm"]
    # The engine reads its key from its environment: the variable, from .env, required.
    inside = variable or KEY
    assert backend["environment"][inside] == REQUIRED
    assert gateway["environment"][KEY] == REQUIRED
    assert not any("sk-" in str(arg) for arg in backend["command"])
    if variable is None:  # SGLang: the flag is added by a launcher, from the environment
        assert backend["command"][:2] == ["python3", "-c"] and f"os.environ['{KEY}']" in backend["command"][2]
    else:
        assert "--api-key" not in backend["command"]
    # The gateway sends it with every request to this backend, Claude Code's routes included.
    config = yaml.safe_load((out / "litellm-config.yaml").read_text())
    assert {entry["litellm_params"].get("api_key") for entry in config["model_list"]} == {f"os.environ/{KEY}"}
    env = env_of(out)
    assert set(env) == {"LITELLM_MASTER_KEY", KEY} and env[KEY] != env["LITELLM_MASTER_KEY"]
    assert env[KEY].startswith("sk-") and len(env[KEY]) >= 40
    assert (out / ".env").stat().st_mode & 0o777 == 0o600
    assert f"{KEY} (sk-" in result.stdout  # its first characters only
    no_secret_anywhere(out, result.stdout, result.stderr)
    assert "published beyond this host" in (out / "docker-compose.yml").read_text()
    assert f"{KEY}=" in (out / ".env.example").read_text()
    recorded = yaml.safe_load((out / "llmstack-manifest.yaml").read_text())["stack"]
    assert recorded["backend_keys"] == {"backend": KEY}


@pytest.mark.parametrize("extra", [
    (),  # published on 127.0.0.1 only by default
    ("--publish-backend",),
    ("--publish-backend", "--bind", "127.0.0.2"),
    ("--publish-backend", "--bind", "::1"),
    ("--bind", "0.0.0.0"),  # the gateway on every interface, the backend not published
    ("--network", "host", "--bind", "0.0.0.0"),  # host network, not published: listens on 127.0.0.1
])
def test_loopback_or_unpublished_is_not_keyed(cli, workdir, extra):
    result, out = render(cli, *TINY, *extra)
    text = "".join(p.read_text() for p in out.iterdir() if p.is_file() and p.name != ".env")
    assert KEY not in text and "LLAMA_API_KEY" not in text
    assert set(env_of(out)) == {"LITELLM_MASTER_KEY"}
    assert "backend_keys" not in yaml.safe_load((out / "llmstack-manifest.yaml").read_text())["stack"]


def test_host_network_published_on_a_lan_address_is_keyed(cli, workdir):
    _, out = render(cli, *TINY, "--network", "host", "--publish-backend", "--bind", "10.1.2.3")
    backend = compose(out)["services"]["backend"]
    assert backend["network_mode"] == "host" and backend["command"][backend["command"].index("--host") + 1] == \
        "10.1.2.3"
    assert backend["environment"]["LLAMA_API_KEY"] == REQUIRED


def test_backend_only_stack_gets_only_the_backend_key(cli, workdir):
    result, out = render(cli, *TINY, "--no-litellm", "--bind", "0.0.0.0")
    assert set(env_of(out)) == {KEY}  # no gateway, no master key
    assert compose(out)["services"]["backend"]["environment"]["LLAMA_API_KEY"] == REQUIRED
    assert compose(out)["services"]["backend"]["ports"] == ["0.0.0.0:8080:8080"]
    assert "(reads .env: LLMSTACK_BACKEND_KEY" in (out / "docker-compose.yml").read_text()
    no_secret_anywhere(out, result.stdout, result.stderr)


def test_the_real_compose_reads_the_key_from_env_and_stops_clearly_without_it(cli, workdir):
    _, out = render(cli, *TINY, "--publish-backend", "--bind", "0.0.0.0")
    key = env_of(out)[KEY]
    env = {k: v for k, v in os.environ.items() if k not in ("LITELLM_MASTER_KEY", KEY)}
    shown = subprocess.run([*compose_binary(), "config", "--format", "json"], cwd=out, env=env,
                           capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    services = json.loads(shown.stdout)["services"]
    assert services["backend"]["environment"]["LLAMA_API_KEY"] == key
    assert services["litellm"]["environment"][KEY] == key
    assert key not in " ".join(services["backend"]["command"])
    # A .env from before backends had keys: Compose names the variable and the fix.
    (out / ".env").write_text(f"LITELLM_MASTER_KEY={env_of(out)['LITELLM_MASTER_KEY']}\n")
    refused = subprocess.run([*compose_binary(), "config", "--quiet"], cwd=out, env=env, capture_output=True,
                             text=True)
    assert refused.returncode != 0
    assert "LLMSTACK_BACKEND_KEY is not set: run llmstack render again (it adds the missing key to .env)" in \
        refused.stderr


# ---- TensorRT-LLM takes no key ------------------------------------------------------------------

@pytest.mark.parametrize("extra", [("--publish-backend", "--bind", "0.0.0.0"), ("--no-litellm", "--bind", "10.0.0.2"),
                                   ("--network", "host", "--publish-backend", "--bind", "::")])
def test_trtllm_beyond_loopback_is_refused(cli, workdir, extra):
    before = snapshot(workdir)
    result = cli("render", *ENGINE, *extra)
    assert result.exit_code == 2, result.stdout + result.stderr
    line, = result.stderr.strip().splitlines()
    assert "TensorRT-LLM takes no API key, so anyone on the network could use it" in line
    assert "publish it on 127.0.0.1" in line
    assert snapshot(workdir) == before


def test_trtllm_on_loopback_is_rendered_without_a_key(cli, workdir):
    _, out = render(cli, *ENGINE, "--no-litellm")
    assert compose(out)["services"]["backend"]["ports"] == ["127.0.0.1:8000:8000"]
    assert "environment" not in compose(out)["services"]["backend"]


# ---- a key never on a command line ----------------------------------------------------------------

@pytest.mark.parametrize("model, arg", [
    (TINY, "--api-key=sk-secret-value-123"), (TINY, "--api-key-file=/run/keys"), (QWEN, "--api-key=sk-secret-value-1"),
    (QWEN, "--api_key=sk-secret-value-123"),  # vLLM reads `_` as `-`
    (("--model", "./models/Qwen2.5-7B-Instruct", "--backend", "sglang", "--gpus", "1"), "--api-key=sk-secret-value"),
])
def test_extra_arg_key_is_refused_without_echoing_it(cli, workdir, model, arg):
    before = snapshot(workdir)
    result = cli("render", *model, f"--extra-arg={arg}")
    assert result.exit_code == 2
    line, = result.stderr.strip().splitlines()
    assert "never written into a command line" in line and "sk-secret" not in line and "=***" in line
    assert "/run/keys" not in line
    assert snapshot(workdir) == before


@pytest.mark.parametrize("backend", ["vllm", "sglang", "llama"])
def test_the_key_flag_exists_in_every_catalogued_version(backend):
    """The flag named in the backends (and the launcher's) is in every catalogued release's flag list."""
    assert catalog.with_flag(backend, "--api-key") == catalog.versions(backend)


def test_the_launcher_adds_the_key_in_memory_only(tmp_path):
    """SGLang takes its key as a flag only: the launcher runs the module as `python3 -m` would, with
    `--api-key KEY` in its sys.argv, and the key is not on the process's command line."""
    package = tmp_path / "standin"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "launch_server.py").write_text(
        "import json, sys\n"
        "if __name__ == '__main__':\n"
        "    cmdline = open('/proc/self/cmdline', 'rb').read().split(b'\\0')\n"
        "    print(json.dumps({'argv': sys.argv[1:], 'cmdline': [c.decode() for c in cmdline if c]}))\n")
    argv = key_launcher("standin.launch_server", "--api-key", KEY)
    assert argv[0] == "python3"
    ran = subprocess.run([sys.executable, *argv[1:], "--model-path", "/m", "--port", "30000"], cwd=tmp_path,
                         env={**os.environ, KEY: "sk-the-secret-key"}, capture_output=True, text=True, check=True)
    seen = json.loads(ran.stdout)
    assert seen["argv"] == ["--model-path", "/m", "--port", "30000", "--api-key", "sk-the-secret-key"]
    assert not any("sk-the-secret-key" in part for part in seen["cmdline"])


# ---- a stack rendered before backends had keys ------------------------------------------------------

def test_render_adds_the_missing_key_and_keeps_every_byte(cli, workdir):
    _, out = render(cli, *TINY)
    # A hand-kept .env: another variable, a comment, no final line feed, a byte that is not UTF-8.
    old = (out / ".env").read_bytes().rstrip(b"\n") + b"\n# caf\xe9\nHF_TOKEN=hf_x"
    (out / ".env").write_bytes(old)
    (out / ".env").chmod(0o600)
    result, _ = render(cli, *TINY, "--publish-backend", "--bind", "0.0.0.0")
    new = (out / ".env").read_bytes()
    assert new.startswith(old + b"\n") and new.count(b"LITELLM_MASTER_KEY=") == 1
    assert new[len(old):].decode().splitlines() == ["", "# Added by llmstack render (see .env.example).",
                                                    f"{KEY}={env_of_bytes(new)[KEY]}"]
    assert f"Added a new {KEY} (sk-" in result.stdout and "the keys already there are kept" in result.stdout
    assert (out / ".env").stat().st_mode & 0o777 == 0o600
    # Rendered again: nothing to add, nothing changes.
    render(cli, *TINY, "--publish-backend", "--bind", "0.0.0.0")
    assert (out / ".env").read_bytes() == new


def env_of_bytes(data: bytes) -> dict[str, str]:
    return dict(line.decode("utf-8", "replace").split("=", 1) for line in data.splitlines()
                if b"=" in line and not line.startswith(b"#"))


def test_a_key_already_in_env_is_kept(cli, workdir):
    """Hosts behind one gateway may share a key: put it in each host's .env before render."""
    out = Path("compose") / "s"
    out.mkdir(parents=True)
    (out / ".env").write_text(f"{KEY}=sk-shared-by-every-gpu-host-0123456789\n")
    result, _ = render(cli, *TINY, "--no-litellm", "--bind", "0.0.0.0")
    assert (out / ".env").read_text() == f"{KEY}=sk-shared-by-every-gpu-host-0123456789\n"
    assert "Added" not in result.stdout and "Created" not in result.stdout


def test_a_symlinked_env_is_left_alone_with_a_note(cli, workdir, tmp_path):
    _, out = render(cli, *TINY)
    real = tmp_path / "secrets.env"
    real.write_text((out / ".env").read_text())
    (out / ".env").unlink()
    (out / ".env").symlink_to(real)
    result, _ = render(cli, *TINY, "--publish-backend", "--bind", "0.0.0.0")
    assert (out / ".env").is_symlink() and KEY not in real.read_text()
    assert f"add {KEY}=<a long random key" in result.stderr


def test_doctor_names_a_missing_backend_key(cli, workdir):
    _, out = render(cli, *TINY, "--publish-backend", "--bind", "0.0.0.0")
    stack = stackdir.load(str(out))
    assert stack.backend_keys == {"backend": KEY}
    assert by_check(doctor.run_checks(stack, FakeHost()))[f".env {KEY}"].status == "pass"
    (out / ".env").write_text(f"LITELLM_MASTER_KEY={env_of(out)['LITELLM_MASTER_KEY']}\n")
    check = by_check(doctor.run_checks(stack, FakeHost()))[f".env {KEY}"]
    assert check.status == "fail" and "backend is published beyond this host" in check.detail
    assert "re-run `llmstack render`" in check.fix and "keeps the others" in check.fix
    # `up` runs the cheap checks first: it stops there, one line, before Compose starts anything.
    result = cli("up", str(out))
    assert result.exit_code == 1 and "LLMSTACK_BACKEND_KEY is not set" in result.stderr


def test_a_manifest_from_before_backend_keys_requires_none(cli, workdir):
    _, out = render(cli, *TINY, "--publish-backend", "--bind", "0.0.0.0")
    stack = stackdir.load(str(out))
    stack.backend_keys = {}  # as an older manifest reads
    assert not any(r.check.startswith(f".env {KEY}") for r in doctor.run_checks(stack, FakeHost()))


# ---- a gateway in front of several hosts ----------------------------------------------------------------

def test_external_gateway_sends_the_hosts_key(cli, workdir):
    _, out = render(cli, "--backend", "external", "--model", "tiny", "--api-base", "http://gpu-1:8080/v1",
                    "--api-base", "http://gpu-2:8080/v1", "--api-key-env", KEY, name="gw")
    config = yaml.safe_load((out / "litellm-config.yaml").read_text())
    assert {e["litellm_params"]["api_key"] for e in config["model_list"]} == {f"os.environ/{KEY}"}
    assert compose(out)["services"]["litellm"]["environment"][KEY] == "${LLMSTACK_BACKEND_KEY:-}"


@pytest.mark.parametrize("name", ["LITELLM_MASTER_KEY", "LITELLM_LOG", "COMPOSE_PROJECT_NAME"])
def test_api_key_env_may_not_name_what_the_gateway_or_compose_own(cli, workdir, name):
    before = snapshot(workdir)
    result = cli("render", "--backend", "external", "--model", "q", "--api-base", "http://h:8000/v1",
                 "--api-key-env", name)
    assert result.exit_code == 2, result.stderr
    line, = result.stderr.strip().splitlines()
    assert line.startswith(f"llmstack: error: --api-key-env {name}: ") and "UPSTREAM_API_KEY" in line
    assert snapshot(workdir) == before


# ---- Kubernetes ---------------------------------------------------------------------------------

K8S = ("--target", "kubernetes", "--model", "Qwen/Qwen2.5-7B-Instruct")


@pytest.mark.parametrize("extra", [(), ("--no-litellm",)])
def test_kubernetes_backends_are_keyed_from_the_secret(cli, workdir, extra):
    result = cli("render", *K8S, *extra, "--name", "k")
    assert result.exit_code == 0, result.stderr
    out = Path("compose") / "k-k8s"
    deployment = next(yaml.safe_load_all((out / "backend.yaml").read_text()))
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "k-env", "key": KEY}
    assert KEY in env_of(out)
    if not extra:
        gateway = next(yaml.safe_load_all((out / "litellm.yaml").read_text()))
        names = [e["name"] for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]]
        assert KEY in names
        assert "NetworkPolicy" in (out / "backend.yaml").read_text().split("apiVersion")[0]
    no_secret_anywhere(out, result.stdout, result.stderr)


def test_kubernetes_trtllm_has_no_key_and_says_so(cli, workdir):
    result = cli("render", *K8S, "--backend", "trtllm", "--no-litellm", "--name", "t")
    assert result.exit_code == 0, result.stderr
    out = Path("compose") / "t-k8s"
    assert "TensorRT-LLM takes no API key" in (out / "backend.yaml").read_text()
    assert "every pod of the cluster can use it" in result.stderr
    assert KEY not in env_of(out)
