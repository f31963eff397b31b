"""Every backend module holds to the contract, and a backend is added by one module alone."""

from __future__ import annotations

import pytest
import yaml

from llmstack import backends
from llmstack.backends.base import FORMATS, Backend, Defaults, python_healthcheck
from tests.examples import EXAMPLES

ALL = sorted(backends.registry().values(), key=lambda b: b.name)


@pytest.mark.parametrize("backend", ALL, ids=lambda b: b.name)
def test_backend_declares_everything(backend: Backend):
    assert backend.name and backend.title
    assert backend.name in backends.module_names()  # the module is named as its backend (for --help)
    assert backend.formats and backend.formats <= FORMATS
    assert backend.auto_for <= backend.formats
    assert isinstance(backend.defaults, Defaults)
    if backend.runs_service:
        assert backend.defaults.image and backend.defaults.version and 1 <= backend.defaults.port <= 65535
        backend.args_model.model_validate(dict(backend.defaults.args))  # built-in args are valid args
    # Parser tables only name parsers the pinned version ships (a catalogued backend: its entry's).
    facts = backend.facts(backend.defaults.version or None)
    assert set(facts.tool_parser_by_family.values()) <= facts.tool_parsers
    assert set(facts.reasoning_parser_by_family.values()) - {None} <= facts.reasoning_parsers
    if facts.reasoning_parser_for_think_tags:
        assert facts.reasoning_parser_for_think_tags in facts.reasoning_parsers
    if backend.runs_service and backend.catalogued:
        from llmstack import catalog

        assert backend.defaults.version == catalog.versions(backend.name)[-1]  # the pin: the newest catalogued
        assert facts.exact and backend.pick_image(facts, backend.defaults.image, backend.defaults.version, "cuda")
        # no parser or route knowledge left in class constants: the catalogue answers
        assert not backend.tool_parsers and not backend.tool_parser_by_family and not backend.reasoning_parsers


@pytest.mark.parametrize("backend", [b for b in ALL if b.runs_service], ids=lambda b: b.name)
def test_every_flag_a_command_writes_is_declared_derived(backend: Backend):
    """So an `--extra-arg` can never contradict one of them (issue 17): it is refused instead."""
    from llmstack.spec import GpuSpec, ModelSpec

    args = {**{key: 1 for key in backend.args_model.model_fields}, **backend.defaults.args}
    facts = backend.facts(backend.defaults.version or None)
    model = ModelSpec(service="backend", alias="a", backend=backend.name, display_name="m", served_name="m",
                      model_arg="/models/m", image="i", port=8000, gpus=GpuSpec(kind="count", count=2), tools=True,
                      vision=True, mmproj_arg="/mmproj/p.gguf", tensor_parallel=2, max_model_len=4096,
                      tool_parser=next(iter(sorted(facts.tool_parsers)), None),
                      reasoning_parser=next(iter(sorted(facts.reasoning_parsers)), None), args=args)
    command = backend.command(model, "0.0.0.0")
    if command[:2] == ["python3", "-m"]:  # the program, then its arguments
        command = command[3:]
    flags = [arg for arg in command if arg.startswith("-")]
    assert flags
    for flag in flags:
        assert backend.derived_flag(flag) is not None, f"{backend.name} writes {flag} without declaring it derived"


def test_each_format_has_one_auto_backend():
    claimed: dict[str, str] = {}
    for backend in ALL:
        for fmt in backend.auto_for:
            assert fmt not in claimed, f"{fmt} claimed by {claimed[fmt]} and {backend.name}"
            claimed[fmt] = backend.name
    assert set(claimed) == {"hf", "gguf", "trtllm-engine", "name"}


@pytest.mark.parametrize("backend", ALL, ids=lambda b: b.name)
def test_every_backend_has_a_golden_example(backend: Backend):
    assert any(backend.name in name.split("-") for name in EXAMPLES), backend.name


def test_cli_help_lists_the_registry(cli):
    out = cli("render", "--help").stdout
    for name in backends.names():
        assert name in out


class Toy(Backend):
    """A backend the tests add on their own: nothing in src/ knows it."""

    name = "toy"
    title = "Toy Server"
    defaults = Defaults(image="example.org/toy-server", version="1.2.3", port=9999, args={"max_model_len": 4096})
    formats = frozenset({"hf"})
    tool_parsers = frozenset({"toy_json"})
    tool_parser_by_family = {"qwen2": "toy_json"}

    def command(self, model, host):
        cmd = ["toy-serve", model.model_arg, "--name", model.served_name, "--bind", f"{host}:{model.port}"]
        if model.tool_parser:
            cmd += ["--tools", model.tool_parser]
        return cmd

    def healthcheck(self, host, port):
        return python_healthcheck(host, port, "/ready")


@pytest.fixture
def toy():
    backends.register(Toy())
    yield
    backends.unregister("toy")


def test_a_toy_backend_renders_from_the_tests_alone(cli, workdir, toy):
    result = cli("render", "--model", "./models/Qwen2.5-7B-Instruct", "--backend", "toy", "--gpus", "1",
                 "--name", "toy")
    assert result.exit_code == 0, result.stderr
    compose = yaml.safe_load((workdir / "compose" / "toy" / "docker-compose.yml").read_text())
    service = compose["services"]["backend"]
    assert service["image"] == "example.org/toy-server:1.2.3"
    assert service["command"][:2] == ["toy-serve", "/models/Qwen2.5-7B-Instruct"]
    assert service["command"][-2:] == ["--tools", "toy_json"]  # its own table, the family from config.json
    assert "/ready" in service["healthcheck"]["test"][-1]
    config = yaml.safe_load((workdir / "compose" / "toy" / "litellm-config.yaml").read_text())
    assert config["model_list"][0]["litellm_params"]["api_base"] == "http://backend:9999/v1"


def test_a_toy_backend_takes_models_yaml_overrides(cli, workdir, toy):
    (workdir / "over.yaml").write_text("defaults:\n  backends:\n    toy: {version: 2.0.0}\n")
    result = cli("render", "--model", "./models/Qwen2.5-7B-Instruct", "--backend", "toy", "--config", "over.yaml",
                 "--stdout")
    assert result.exit_code == 0, result.stderr
    assert yaml.safe_load(result.stdout)["services"]["backend"]["image"] == "example.org/toy-server:2.0.0"
