"""What the render does for agent clients: it runs the model's own chat template against the
request shapes Claude Code and Codex send (llmstack.model.template), records the findings in the
manifest (so `--check` works without the weights), and renders the gateway's request hook
(llmstack_hook.py) only when an alias needs it: mounted read-only into the gateway (Compose) or put
in its ConfigMap (Kubernetes), loaded by `callbacks`, switched on per alias in model_info with the
reason beside it. /v1/responses goes through LiteLLM's bridge unless the model asks for the
engine's own."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from llmstack import gateway_hook, gateway_startup, manifest
from llmstack.model import chat_template, template
from llmstack.model.facts import Template
from llmstack.paths import HOOK_FILE, STARTUP_FILE
from llmstack.stamp import pristine
from llmstack.targets import common
from tests.conftest import FIXTURES
from tests.test_chat_template import STRICT  # a system message after the first, and repeated roles, refused

LENIENT = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"
GPUS = ("--gpus", "0,1", "--gpu-memory", "48")


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Template checks cached in this test's directory, never the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def hf_model(root: Path, name: str, text: str | None) -> Path:
    model = root / "models" / name
    model.mkdir(parents=True)
    shutil.copy(FIXTURES / "families" / "Qwen2.5-7B-Instruct" / "config.json", model / "config.json")
    if text is not None:
        (model / "chat_template.jinja").write_text(text)
    return model


def render(cli, *args: str):
    result = cli("render", *args)
    assert result.exit_code == 0, result.stderr + result.stdout
    return result


def config_of(directory: Path) -> dict:
    return yaml.safe_load((directory / "litellm-config.yaml").read_text())


def entries(directory: Path) -> dict[str, dict]:
    return {e["model_name"]: e for e in config_of(directory)["model_list"]}


def test_the_hook_knows_every_switch_the_render_can_set():
    assert gateway_hook.SWITCHES == template.SWITCHES
    assert set(chat_template.ADAPTATIONS) | {template.STRIP_BILLING} == set(template.SWITCHES)


def test_a_strict_template_switches_the_hook_on_for_its_alias_and_claude_routes(cli, workdir):
    hf_model(workdir, "strict", STRICT)
    out = workdir / "compose" / "s"
    result = render(cli, "--model", "./models/strict", *GPUS, "--name", "s")
    assert f"{HOOK_FILE}" in result.stdout
    assert "its chat template refuses trailing_system, mid_system" in result.stderr
    config = config_of(out)
    assert config["litellm_settings"]["callbacks"] == ["llmstack_hook.proxy_handler_instance"]
    switches = ["strip_billing_header", "fold_system", "merge_turns"]
    assert {name: e["model_info"].get("llmstack_adapt") for name, e in entries(out).items()} == {
        "local-model": switches, "claude-opus-*": switches, "claude-sonnet-*": switches, "claude-haiku-*": switches,
        "claude-fable-*": switches}
    text = (out / "litellm-config.yaml").read_text()
    assert 'the template refuses trailing_system, mid_system, multiple_system: "System message must be at ' \
           'the beginning."' in text
    assert "switched on by the render's check of its chat template, chat_template.jinja:" in text
    # the hook itself: the header, then gateway_hook.py byte for byte; its hash verifies
    hook = (out / HOOK_FILE).read_text()
    assert hook.endswith(Path(gateway_hook.__file__).read_text()) and pristine(hook) is True
    compose = yaml.safe_load((out / "docker-compose.yml").read_text())
    assert compose["services"]["litellm"]["volumes"][1] == {
        "type": "bind", "source": f"./{HOOK_FILE}", "target": f"/app/{HOOK_FILE}", "read_only": True}
    # the manifest records the findings
    recorded = manifest.read(out)
    assert recorded is not None
    check = next(iter(recorded.models.values())).template
    assert check is not None and check.engine == "transformers" and check.origin == "chat_template.jinja"
    assert check.refused["mid_system"] == "System message must be at the beginning."
    assert check.adaptations == ("fold_system", "merge_turns")
    assert recorded.stack.aliases[0].adapt == tuple(switches)


def test_a_template_that_accepts_everything_loads_no_hook(cli, workdir):
    hf_model(workdir, "lenient", LENIENT)
    render(cli, "--model", "./models/lenient", *GPUS, "--name", "l")
    out = workdir / "compose" / "l"
    config = config_of(out)
    assert "callbacks" not in config["litellm_settings"]
    assert all("llmstack_adapt" not in e["model_info"] for e in config["model_list"])
    assert not (out / HOOK_FILE).exists()
    text = (out / "litellm-config.yaml").read_text()
    assert "No alias's chat template needs llmstack's request hook" in text
    assert "CLAUDE_CODE_ATTRIBUTION_HEADER=0" in text
    volumes = yaml.safe_load((out / "docker-compose.yml").read_text())["services"]["litellm"]["volumes"]
    assert [v["source"] for v in volumes] == ["./litellm-config.yaml", "./llmstack_startup.py"]  # no hook


def test_only_the_alias_that_needs_it_is_adapted(cli, workdir):
    hf_model(workdir, "strict", STRICT)
    hf_model(workdir, "lenient", LENIENT)
    (workdir / "models.yaml").write_text(yaml.safe_dump({"stacks": {"two": {"models": [
        {"model": "./models/strict", "alias": "strict", "gpus": [0], "gpu_memory": 48},
        {"model": "./models/lenient", "alias": "lenient", "gpus": [1], "gpu_memory": 48}]}}}))
    render(cli, "two", "--config", "models.yaml")
    found = entries(workdir / "compose" / "two")
    assert found["strict"]["model_info"]["llmstack_adapt"] == ["strip_billing_header", "fold_system", "merge_turns"]
    assert "llmstack_adapt" not in found["lenient"]["model_info"]


def test_check_works_without_the_weights_and_without_running_the_template(cli, workdir, monkeypatch):
    model = hf_model(workdir, "strict", STRICT)
    render(cli, "--model", "./models/strict", *GPUS, "--name", "s")
    shutil.rmtree(model)

    def no_run(*args, **kwargs):
        raise AssertionError("the template was run again")

    monkeypatch.setattr(chat_template, "check_template", no_run)
    result = cli("render", "--model", "./models/strict", *GPUS, "--name", "s", "--check")
    assert result.exit_code == 0, result.stderr
    assert "up to date" in result.stdout


def test_an_unchanged_template_is_not_run_again(cli, workdir, monkeypatch):
    hf_model(workdir, "strict", STRICT)
    render(cli, "--model", "./models/strict", *GPUS, "--name", "s")
    calls = []
    original = chat_template.check_template
    monkeypatch.setattr(chat_template, "check_template", lambda *a, **k: calls.append(1) or original(*a, **k))
    render(cli, "--model", "./models/strict", *GPUS, "--name", "s")
    assert calls == []
    (workdir / "models" / "strict" / "chat_template.jinja").write_text(LENIENT)
    render(cli, "--model", "./models/strict", *GPUS, "--name", "s")
    assert calls == [1]


def test_a_render_that_no_longer_needs_the_hook_removes_it(cli, workdir):
    hf_model(workdir, "m", STRICT)
    out = workdir / "compose" / "m"
    render(cli, "--model", "./models/m", *GPUS, "--name", "m")
    assert (out / HOOK_FILE).exists()
    (workdir / "models" / "m" / "chat_template.jinja").write_text(LENIENT)
    check = cli("render", "--model", "./models/m", *GPUS, "--name", "m", "--check")
    assert check.exit_code == 1 and HOOK_FILE in check.stderr
    result = render(cli, "--model", "./models/m", *GPUS, "--name", "m")
    assert f"Removed from compose/m/: {HOOK_FILE}" in result.stdout
    assert not (out / HOOK_FILE).exists()


def test_a_hand_edited_hook_is_neither_overwritten_nor_removed(cli, workdir):
    hf_model(workdir, "m", STRICT)
    out = workdir / "compose" / "m"
    render(cli, "--model", "./models/m", *GPUS, "--name", "m")
    hook = out / HOOK_FILE
    hook.write_text(hook.read_text().replace("JOIN = ", "JOIN  = "))
    (workdir / "models" / "m" / "chat_template.jinja").write_text(LENIENT)
    result = cli("render", "--model", "./models/m", *GPUS, "--name", "m")
    assert result.exit_code != 0 and f"{HOOK_FILE} was edited by hand" in result.stderr
    assert hook.exists()


@pytest.mark.parametrize("name, module, anchor", [(HOOK_FILE, gateway_hook, "JOIN = "),
                                                   (STARTUP_FILE, gateway_startup, "MESSAGES = ")])
def test_the_rendered_python_files_are_checked_like_every_rendered_file(name, module, anchor):
    source = Path(module.__file__).read_text()
    common.check_python_file(name, "# a header\n# llmstack-hash: x\n" + source)
    with pytest.raises(Exception, match="not the header's comments"):
        common.check_python_file(name, "# a header\nimport os\n" + source)
    with pytest.raises(Exception, match="not the header's comments"):
        common.check_python_file(name, "# a header\n" + source.replace(anchor, anchor.replace(" = ", "="), 1))
    with pytest.raises(Exception, match="source encoding"):
        common.check_python_file(name, "# -*- coding: latin-1 -*-\n" + source)


def test_adapt_in_models_yaml_decides(cli, workdir):
    hf_model(workdir, "strict", STRICT)
    (workdir / "models.yaml").write_text(yaml.safe_dump({"stacks": {
        "off": {"models": [{"model": "./models/strict", "gpus": "0,1", "gpu_memory": 48, "adapt": "none"}]},
        "ext": {"models": [{"model": "qwen3.5", "backend": "external", "api_base": "http://gpu-host:8000/v1",
                            "adapt": ["merge_turns", "fold_system"]}]},
        "bad": {"models": [{"model": "./models/strict", "gpus": "0,1", "gpu_memory": 48, "adapt": ["fold"]}]}}}))
    render(cli, "off", "--config", "models.yaml")
    assert not (workdir / "compose" / "off" / HOOK_FILE).exists()
    assert "callbacks" not in config_of(workdir / "compose" / "off")["litellm_settings"]
    render(cli, "ext", "--config", "models.yaml")
    ext = workdir / "compose" / "ext"
    assert entries(ext)["local-model"]["model_info"]["llmstack_adapt"] == ["fold_system", "merge_turns"]
    assert (ext / HOOK_FILE).exists()
    assert "stacks.ext.models[0].adapt" in (ext / "litellm-config.yaml").read_text()
    bad = cli("render", "bad", "--config", "models.yaml")
    assert bad.exit_code == 2 and "adapt" in bad.stderr and "fold_system" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_a_chat_template_flag_means_the_template_is_not_checked(cli, workdir):
    hf_model(workdir, "strict", STRICT)
    result = render(cli, "--model", "./models/strict", *GPUS, "--name", "f", "--extra-arg=--chat-template=/t.jinja")
    assert "--chat-template gives the backend another chat template: not checked" in result.stderr
    assert "callbacks" not in config_of(workdir / "compose" / "f")["litellm_settings"]


def test_llama_cpp_renders_developer_as_system(cli, workdir):
    """The same template, two engines: transformers refuses Codex's `developer` role where llama.cpp
    reads it as `system` (model/chat_template.py)."""
    only_system = ("{% for m in messages %}{% if m.role not in ('system', 'user', 'assistant', 'tool') %}"
                   "{{ raise_exception('Unexpected message role.') }}{% endif %}{{ m.content }}{% endfor %}")
    vllm = template.check(Template(only_system, "x"), "transformers")
    llama = template.check(Template(only_system, "x"), "llama.cpp")
    assert vllm.refused == {"developer": "Unexpected message role."} and vllm.adaptations == ("fold_system",)
    assert llama.refused == {} and llama.adaptations == ()


def test_the_tool_use_variant_is_the_one_checked():
    from llmstack.model import inspect_path

    facts = inspect_path(FIXTURES / "families" / "Hermes-3-Llama-3.1-8B")
    assert facts.chat_template is not None and facts.chat_template.name == "tool_use"
    assert template.served([Template("a", "o"), Template("b", "o", "tool_use")]).text == "b"
    assert template.served([Template("a", "o")]).text == "a"


def test_responses_route(cli, workdir):
    hf_model(workdir, "m", LENIENT)
    render(cli, "--model", "./models/m", *GPUS, "--name", "bridge")
    render(cli, "--model", "./models/m", *GPUS, "--name", "native", "--responses-route", "native")
    bridge, native = entries(workdir / "compose" / "bridge"), entries(workdir / "compose" / "native")
    assert all(e["litellm_params"]["use_chat_completions_api"] is True for e in bridge.values())
    assert all("use_chat_completions_api" not in e["litellm_params"] for e in native.values())
    assert "passed to vLLM's own /v1/responses (--responses-route)" in \
        (workdir / "compose" / "native" / "litellm-config.yaml").read_text()
    bad = cli("render", "--model", "./models/m", *GPUS, "--name", "x", "--responses-route", "own")
    assert bad.exit_code == 2 and "choose native" in bad.stderr


def test_without_a_gateway_nothing_is_checked(cli, workdir, monkeypatch):
    hf_model(workdir, "m", STRICT)
    monkeypatch.setattr(chat_template, "check_template", lambda *a, **k: pytest.fail("checked"))
    render(cli, "--model", "./models/m", *GPUS, "--name", "n", "--no-litellm")
