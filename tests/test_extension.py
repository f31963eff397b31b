"""A backend with a capability no built-in backend has, and a model family llmstack does not know,
added from this file alone and rendered (issue 17): resolution and the targets read capabilities,
never backend names, so nothing in src/ changes to take them.

The toy engine's capabilities:
- its parser registry follows the version (`facts(version)`, as the engine catalogue will answer):
  the tool parser and its own /v1/messages exist from release 2.0 on;
- a tuning value of its own (`args: {draft_model: ...}`, speculative decoding), which its command
  writes as `--draft` and declares derived, so an `--extra-arg=--draft=...` is refused;
- a CPU build.
The family `toyformer` is detected from config.json's `model_type`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from llmstack import backends
from llmstack.backends.base import Backend, BackendArgs, Defaults, DerivedFlag, EngineFacts, python_healthcheck
from llmstack.model import families
from tests.conftest import snapshot
from tests.test_bad_input import assert_rejected


class ToyArgs(BackendArgs):
    draft_model: str | None = None


class Toy(Backend):
    name = "toy"
    title = "Toy Engine"
    defaults = Defaults(image="example.org/toy-engine", version="2.1", port=7000, args={"max_model_len": 4096})
    args_model = ToyArgs
    formats = frozenset({"hf"})
    derived_flags = (
        DerivedFlag(("--weights",), "model"), DerivedFlag(("--name",), "", "the name the gateway asks for"),
        DerivedFlag(("--listen",), "network"), DerivedFlag(("--ctx",), "max_model_len"),
        DerivedFlag(("--tool-parser",), "tool_parser"), DerivedFlag(("--draft",), "args.draft_model"),
    )

    def facts(self, version):
        recent = version is not None and (self.version_key(version) or (0,)) >= (2, 0)
        return EngineFacts(version, tool_parsers=frozenset({"toy_tools"} if recent else ()),
                           tool_parser_by_family={"toyformer": "toy_tools"} if recent else {},
                           serves_messages=recent, messages_since="2.0",
                           anthropic_route="native" if recent else "translated")

    def image(self, repository, version, gpu):
        return f"{repository}:{version}" + ("" if gpu else "-cpu")

    def command(self, model, host):
        cmd = ["toy-serve", "--weights", model.model_arg, "--name", model.served_name,
               "--listen", f"{host}:{model.port}", "--ctx", str(model.max_model_len)]
        if model.tool_parser:
            cmd += ["--tool-parser", model.tool_parser]
        if model.args.get("draft_model"):
            cmd += ["--draft", model.args["draft_model"]]
        return cmd

    def healthcheck(self, host, port):
        return python_healthcheck(host, port, "/ready")


@pytest.fixture
def toy(workdir: Path) -> Path:
    """The toy engine in the backend registry, the toyformer family in the family table, and a
    toyformer model as it would publish its config.json."""
    model = workdir / "models" / "Toyformer-1B"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({
        "architectures": ["ToyformerForCausalLM"], "model_type": "toyformer", "hidden_size": 1024,
        "num_attention_heads": 16, "num_key_value_heads": 4, "num_hidden_layers": 12, "vocab_size": 32000,
        "max_position_embeddings": 16384, "torch_dtype": "bfloat16"}))
    backends.register(Toy())
    try:
        with families.registered(families.Family("toyformer", model_types=("toyformer",), names=r"toyformer")):
            yield workdir
    finally:
        backends.unregister("toy")


def render_stack(cli, root: Path, version: str, **entry: object):
    (root / "toy.yaml").write_text(yaml.safe_dump({"stacks": {"toy": {"gpu_memory": 24, "models": [
        {"model": "./models/Toyformer-1B", "backend": "toy", "version": version, "gpus": [0], **entry}]}}}))
    return cli("render", "toy", "--config", "toy.yaml", "--stdout")


def test_a_new_backend_and_family_render_from_the_tests_alone(cli, toy):
    result = render_stack(cli, toy, "2.1", args={"draft_model": "/models/draft"})
    assert result.exit_code == 0, result.stderr
    compose = yaml.safe_load(result.stdout)
    backend = compose["services"]["backend"]
    assert backend["image"] == "example.org/toy-engine:2.1"
    assert backend["command"] == ["toy-serve", "--weights", "/models/Toyformer-1B", "--name", "toyformer-1b",
                                  "--listen", "0.0.0.0:7000", "--ctx", "4096", "--tool-parser", "toy_tools",
                                  "--draft", "/models/draft"]
    assert "/ready" in backend["healthcheck"]["test"][-1]
    assert "# Tool-call parser toy_tools: the toyformer family (config.json: model_type 'toyformer' of " \
           "./models/Toyformer-1B)." in result.stdout
    assert "# Memory plan:" in result.stdout  # the plan knows nothing of the engine but what it declares


def model_info(cli, root: Path, version: str) -> dict:
    render_stack(cli, root, version)
    result = cli("render", "toy", "--config", "toy.yaml", "--output", f"out-{version}")
    assert result.exit_code == 0, result.stderr
    return yaml.safe_load((root / f"out-{version}" / "litellm-config.yaml").read_text())["model_list"][0]["model_info"]


def test_the_version_decides_the_parsers_and_the_route(cli, toy):
    old = render_stack(cli, toy, "1.4")
    assert old.exit_code == 0, old.stderr
    assert "--tool-parser" not in yaml.safe_load(old.stdout)["services"]["backend"]["command"]
    refused = render_stack(cli, toy, "1.4", tool_parser="toy_tools")
    assert "tool_parser toy_tools: Toy Engine has no tool parser switch" in refused.stderr
    assert "supported_endpoints" not in model_info(cli, toy, "1.4")  # no /v1/messages before 2.0
    assert "/v1/messages" in model_info(cli, toy, "2.0")["supported_endpoints"]


def test_its_own_capabilities_are_held_to_what_it_declares(cli, toy):
    refused = render_stack(cli, toy, "2.1", extra_args=["--draft=/elsewhere"])
    assert refused.exit_code == 2
    assert "extra_args --draft=/elsewhere: llmstack derives Toy Engine's --draft; set args: {draft_model: ...}" \
           in refused.stderr
    unknown = render_stack(cli, toy, "2.1", args={"draft": "/models/draft"})
    assert unknown.exit_code == 2 and "stacks.toy.models[0].args.draft: unknown key" in unknown.stderr
    cpu = cli("render", "--model", "./models/Toyformer-1B", "--backend", "toy", "--cpu", "--stdout")
    assert cpu.exit_code == 0, cpu.stderr
    assert yaml.safe_load(cpu.stdout)["services"]["backend"]["image"] == "example.org/toy-engine:2.1-cpu"


def test_it_renders_for_kubernetes_too(cli, toy):
    result = cli("render", "--model", "./models/Toyformer-1B", "--backend", "toy", "--gpus", "1", "--name", "toy",
                 "--target", "kubernetes", "--k8s-model-pvc", "models")
    assert result.exit_code == 0, result.stderr
    deployment = yaml.safe_load_all((toy / "compose" / "toy-k8s" / "backend.yaml").read_text())
    container = next(iter(deployment))["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:3] == ["toy-serve", "--weights", "/models/Toyformer-1B"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"  # its declared health path


def test_unknown_to_the_registry_without_it(cli, workdir):
    before = snapshot(workdir)
    assert_rejected(cli("render", "--model", "./models/Qwen2.5-7B-Instruct", "--backend", "toy"),
                    "--backend toy: unknown backend", before, workdir)
