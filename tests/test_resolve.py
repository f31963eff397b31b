"""Resolution as one layered lookup: every value a render is given is read by some stage, or the
render stops naming it (tox's `unused()`); what would have caught a stack model's
`args.max_model_len` being validated and then ignored (issue 17)."""

from __future__ import annotations

import pytest
import yaml

from llmstack.provenance import Layer, Layers, derived, flag, unused
from tests.conftest import snapshot
from tests.test_bad_input import assert_rejected


def test_a_key_no_stage_reads_is_reported_with_its_origin():
    given = Layer({"port": 9000, "args.max_model_len": 4096}, lambda key: flag(f"--{key}"), tracked=True)
    built_in = Layer({"port": 8000, "args.max_model_len": 32768}, lambda key: derived("default"))
    lookup = Layers([given, built_in])
    assert lookup.value("port") == 9000
    assert lookup.peek("args.max_model_len").value == 4096  # looked at, not used
    assert [found.label() for found in unused([given, built_in])] == ["--args.max_model_len 4096"]
    lookup.get("args.max_model_len")
    assert unused([given, built_in]) == []


def test_a_key_a_stage_skips_on_purpose_is_not_reported():
    given = Layer({"litellm.port": 4500, "litellm.version": "x"}, lambda key: flag(key), tracked=True)
    Layers([given]).skip("litellm.")
    assert unused([given]) == []


def test_reading_a_key_reads_the_values_it_overrides():
    flags = Layer({"port": 9001}, lambda key: flag("--port"), tracked=True)
    stack = Layer({"port": 9000}, lambda key: derived("stack"), tracked=True)
    assert Layers([flags, stack]).value("port") == 9001
    assert unused([flags, stack]) == []


@pytest.mark.parametrize("args, expected", [
    (("--model", "./models/Qwen2.5-7B-Instruct", "--api-key-env", "UPSTREAM_KEY"),
     "--api-key-env UPSTREAM_KEY: nothing in this render uses it"),
    (("--model", "./models/tiny.gguf", "--cpu", "--gpu-memory", "24"),
     "--gpu-memory 24: nothing in this render uses it"),
])
def test_a_flag_nothing_reads_is_refused(cli, workdir, args, expected):
    assert_rejected(cli("render", *args), expected, snapshot(workdir), workdir)


def test_a_stack_key_nothing_reads_is_refused_with_its_key_path(cli, workdir):
    (workdir / "my.yaml").write_text(yaml.safe_dump({"stacks": {"s": {"models": [
        {"model": "qwen2-5-7b-instruct", "backend": "external", "api_base": "http://gpu-host-1:8000/v1",
         "service": "remote"}]}}}))
    assert_rejected(cli("render", "s", "--config", "my.yaml"), "my.yaml: stacks.s.models[0].service remote: nothing "
                    "in this render uses it", snapshot(workdir), workdir)


def test_settings_of_a_section_switched_off_are_not_refused(cli, workdir):
    """--no-litellm switches the gateway off: its settings in the stack do not apply (as before)."""
    (workdir / "my.yaml").write_text(yaml.safe_dump({"stacks": {"s": {
        "litellm": {"port": 4500}, "claude": {"opus": "local-model"},
        "models": [{"model": "./models/tiny.gguf", "gpus": "none"}]}}}))
    result = cli("render", "s", "--config", "my.yaml", "--no-litellm", "--stdout")
    assert result.exit_code == 0, result.stderr
