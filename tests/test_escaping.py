"""No value can change the structure of a rendered file (issue 16: injection).

The quoting functions are tested directly against every line break YAML knows, YAML indicators,
`$` and `${}`, quotes, NUL and YAML 1.1 booleans; then every string of real stacks' specs (the
golden examples) is replaced by hostile text, one field at a time with the worst payloads and all
at once by property, and the rendered files must parse to exactly the same structure, line for
line (and the real Compose CLI, which parses with go-yaml, must agree).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmstack.escaping import LINE_BREAKS, compose_quote, finalize, is_safe, one_line, yaml_quote
from tests.conftest import REPO, compose_binary
from tests.examples import EXAMPLES, render_args

# Pieces of hostile text: every line break YAML (1.1 and 1.2) and Compose know, YAML indicators,
# interpolation, quotes, control characters, a BOM, a lone surrogate, YAML 1.1 booleans, and whole
# lines an attacker would like to become keys.
PIECES = [
    *LINE_BREAKS, "\r\n", "\x00", "\t", "\x0b", "\x0c", "\x1c", "\x7f", "\x9f", "\ufeff", "\ufffe",
    ": ", "- ", "#", "{", "}", "[", "]", "&a", "*a", "!!python/object:os.system", "|", ">", "'", '"', "%", "@",
    "`", "$", "${HOME}", "$$", "${X:?boom}", "?", ",", "\\", "\\n", "yes", "no", "on", "off", "~", "null",
    "---", "...", "  ", "privileged: true", "include:", "entrypoint: [sh, -c, id]", "é", "🙂",
]
PAYLOADS = [
    "x\n    privileged: true\n    entrypoint: [\"sh\", \"-c\", \"id\"]",
    "x\u2028include:\u2028  - /etc/evil.yml",
    "x\u2029    privileged: true",
    "x\x85  user: root",
    "x\r\n  cap_add: [ALL]",
    "x\" : {privileged: true} #",
    "${LITELLM_MASTER_KEY} $$ $(id) `id`",
    "\ufeff\x00\x7f\x9f\ufffe yes",
]
hostile = st.lists(st.sampled_from(PIECES) | st.text(max_size=3), min_size=1, max_size=8).map("".join)

# Strings that are identifiers validated before rendering (names of services, stacks, variables,
# registry keys, GPU ids): a hostile value there must fail the render (exit 3), never pass.
IDENTIFIERS = {"service", "name", "backend", "api_key_env", "backend_key", "variable", "kind", "ids", "network",
               "bind", "target", "llmstack_version", "health_interval", "adapt"}


def _hostile_spec(spec: Any, text: Callable[[str], str], only: tuple[str, ...] | None = None, path: str = "") -> Any:
    """`spec` with every free-text string (or only the one at `only`) replaced by `text(old)`."""
    if dataclasses.is_dataclass(spec) and not isinstance(spec, type):
        changes = {}
        for field in dataclasses.fields(spec):
            if field.name in IDENTIFIERS:
                continue
            value = getattr(spec, field.name)
            changes[field.name] = _hostile_spec(value, text, only, f"{path}.{field.name}")
        return dataclasses.replace(spec, **changes)
    if isinstance(spec, str):
        return text(spec) if only is None or path.startswith(only) else spec
    if isinstance(spec, tuple):
        return tuple(_hostile_spec(item, text, only, path) for item in spec)
    if isinstance(spec, list):
        return [_hostile_spec(item, text, only, path) for item in spec]
    if isinstance(spec, Mapping):
        return {key: _hostile_spec(value, text, only, f"{path}.{key}") for key, value in spec.items()}
    return spec


_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _shape(value: Any) -> Any:
    """The structure of parsed YAML without its scalar values: keys, list lengths, types. Keys
    that are data (a model path, a Claude model pattern) count by number, not by name."""
    if isinstance(value, dict):
        named = {key: _shape(item) for key, item in value.items() if isinstance(key, str) and _KEY.match(key)}
        data = sorted(repr(_shape(item)) for key, item in value.items()
                      if not (isinstance(key, str) and _KEY.match(key)))
        return {**named, "<data keys>": data} if data else named
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return type(value).__name__


def _structure(files: dict[str, str]) -> dict[str, Any]:
    out = {}
    for name, text in files.items():
        assert is_safe(text.replace("\n", "")), f"{name} carries a raw unsafe character"
        lines = text.split("\n")
        docs = [_shape(doc) for doc in yaml.load_all(text, Loader=yaml.CSafeLoader)] \
            if name.endswith((".yml", ".yaml")) else None
        comments = [line.split("#", 1)[0] for line in lines]  # what precedes each comment stays put
        out[name] = {"lines": len(lines), "docs": docs, "layout": [len(c) - len(c.lstrip()) for c in comments]}
    return out


_SPECS: dict[str, Any] = {}


def spec_of(name: str) -> Any:
    """The StackSpec the golden example `name` renders (resolved from the repository root)."""
    if name not in _SPECS:
        from llmstack import main
        from llmstack.options import RenderOptions
        from llmstack.resolve import resolve as resolve_spec

        cwd = os.getcwd()
        os.chdir(REPO)
        try:
            captured: dict[str, Any] = {}

            def capture(opts: RenderOptions, *args: Any, **kwargs: Any) -> None:
                config = main.configfile.load(Path(opts.get("config")) if opts.get("config") else None)
                captured["spec"] = resolve_spec(opts, config).spec
                raise _Captured

            original = main.render_stack
            main.render_stack = capture  # type: ignore[assignment]
            try:
                from typer.testing import CliRunner

                from llmstack.cli import app

                CliRunner().invoke(app, render_args(name), catch_exceptions=True)
            finally:
                main.render_stack = original  # type: ignore[assignment]
            _SPECS[name] = captured["spec"]
        finally:
            os.chdir(cwd)
    return _SPECS[name]


class _Captured(Exception):
    pass


def _render(spec: Any) -> dict[str, str]:
    from llmstack.targets import render

    return render(spec)


# ---- the quoting functions, directly ---------------------------------------------------------------

@pytest.mark.parametrize("value", [*PIECES, *PAYLOADS, "\udc80", "", "yes", "No", "ON", "0x1F", "1e3", "- a", "a: b"])
def test_quoted_scalars_read_back_exactly(value):
    if "\udc80" in value:  # a lone surrogate has no UTF-8 form: written as U+FFFD
        value = value.replace("\udc80", "\ufffd")
    assert yaml.safe_load(yaml_quote(value)) == value
    assert yaml.safe_load(compose_quote(value)) == value.replace("$", "$$")
    assert "\n" not in yaml_quote(value) and is_safe(yaml_quote(value))


@pytest.mark.parametrize("value", PAYLOADS + [f"a{b}b" for b in LINE_BREAKS])
def test_finalize_leaves_no_line_break(value):
    text = finalize(value)
    assert len(f"# {text}\nkey: 1".splitlines()) == 2
    assert yaml.safe_load(f"# {text}\nkey: 1") == {"key": 1}


def test_error_lines_are_one_line():
    assert one_line("a\nb\u2028c\x85d\re\x00") == "a b c d e\\u0000"


# ---- whole renders ------------------------------------------------------------------------------

# Every golden example: compose (one and two models, CPU and GPU, host network, external replicas)
# and Kubernetes.
NAMES = list(EXAMPLES)


_BASELINES: dict[str, Any] = {}


def baseline(name: str) -> Any:
    if name not in _BASELINES:
        _BASELINES[name] = _structure(_render(spec_of(name)))
    return _BASELINES[name]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_text_in_every_field_changes_no_structure(name, payload):
    spec = spec_of(name)
    files = _render(_hostile_spec(spec, lambda old: old + payload))
    assert _structure(files) == baseline(name)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=hostile, name=st.sampled_from(NAMES), seed=st.integers(0, 10**6))
def test_property_no_value_changes_structure(text, name, seed):
    # Each string gets its own slice of the hostile text (the same string the same slice: an alias
    # and the Claude route naming it stay one alias).
    def mutate(old: str) -> str:
        return old + text[(seed + zlib.crc32(old.encode(errors="replace"))) % (len(text) + 1):]

    files = _render(_hostile_spec(spec_of(name), mutate))
    assert _structure(files) == baseline(name)


@pytest.mark.parametrize("field", ["display_name", "served_name", "model_arg", "image", "extra_args", "mounts",
                                   "vision_source", "family", "tool_parser", "origins", "regen_command", "alias"])
def test_each_field_alone(field):
    """One field at a time (the all-at-once tests could hide one escaping path behind another)."""
    spec = spec_of("qwen-coder-and-chat")
    only = {"regen_command": (".regen_command",), "alias": (".models.alias", ".litellm.claude_routes")}.get(
        field, (f".models.{field}",))
    for payload in PAYLOADS:
        files = _render(_hostile_spec(spec, lambda old, p=payload: old + p, only=only))
        assert _structure(files) == baseline("qwen-coder-and-chat"), (field, payload)


@pytest.mark.parametrize("field", ["service", "name", "api_key_env", "backend_key", "variable"])
def test_hostile_identifiers_fail_the_render_or_change_nothing(field):
    """Identifiers are validated before rendering; if one slipped through, the parse-back check
    stops the render (exit 3), or the value stays inside its quotes: never a changed structure."""
    from llmstack.errors import RenderError

    name = {"api_key_env": "external-replicas", "variable": "llama-gpu-gemma3-vision",
            "backend_key": "vllm-qwen2-5-7b-k8s"}.get(field, "qwen-coder-and-chat")
    spec = spec_of(name)

    def poison(obj: Any) -> Any:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            changes = {f.name: poison(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
            if field in changes and isinstance(changes[field], str) and changes[field]:
                changes[field] += "\n    privileged: true"
            return dataclasses.replace(obj, **changes)
        if isinstance(obj, tuple):
            return tuple(poison(item) for item in obj)
        return obj

    try:
        files = _render(poison(spec))
    except RenderError:
        return
    assert _structure(files) == baseline(name)


def test_compose_reads_the_same_structure(tmp_path):
    """The real Compose CLI (go-yaml, YAML 1.2 with U+2028/U+2029/U+0085 as line breaks) sees the
    same services and keys in a render whose every string is hostile."""
    spec = spec_of("qwen-coder-and-chat")
    hostile_files = _render(_hostile_spec(spec, lambda old: old + "\u2028include:\u2029 - x\x85privileged: true"))
    plain_files = _render(spec)
    seen = []
    for label, files in (("hostile", hostile_files), ("plain", plain_files)):
        directory = tmp_path / label
        directory.mkdir()
        for fname, text in files.items():
            (directory / fname).write_text(text, encoding="utf-8")
        env = {**os.environ, "LITELLM_MASTER_KEY": "sk-validation-only-not-a-secret"}
        out = subprocess.run([*compose_binary(), "config", "--format", "json", "--no-interpolate"], cwd=directory,
                             capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr
        config = json.loads(out.stdout)
        seen.append({name: sorted(service) for name, service in config["services"].items()})
        assert "include" not in config
    assert seen[0] == seen[1]


def test_gguf_architecture_with_newlines_cannot_inject(tmp_path, cli):
    """The reported attack: a GGUF whose general.architecture holds indented lines, in a two-model
    stack, used to become keys (privileged, entrypoint) of the other service."""
    gguf = pytest.importorskip("gguf")
    models = tmp_path / "models"
    models.mkdir()
    for name, arch in (("evil.gguf", "llama\n    privileged: true\n    entrypoint: [\"sh\", \"-c\", \"id\"]\n#"),
                       ("evil2.gguf", "qwen2\u2028  privileged: true")):
        writer = gguf.GGUFWriter(str(models / name), arch)
        writer.add_name(f"{name}\n  user: root")
        writer.add_context_length(4096)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.close()
    config = tmp_path / "models.yaml"
    config.write_text(
        "stacks:\n  two:\n    models:\n"
        f"      - {{model: {models / 'evil.gguf'}, alias: a, gpus: [0]}}\n"
        f"      - {{model: {models / 'evil2.gguf'}, alias: b, gpus: [1]}}\n", encoding="utf-8")
    out = tmp_path / "out"
    result = cli("render", "two", "--config", str(config), "--output", str(out))
    assert result.exit_code in (0, 2), result.stderr
    if result.exit_code == 0:
        compose = yaml.safe_load((out / "docker-compose.yml").read_text(encoding="utf-8"))
        for service in compose["services"].values():
            assert "privileged" not in service and "entrypoint" not in service and "user" not in service
    else:
        assert not out.exists()


def test_credentials_in_api_base_are_refused_and_never_printed(cli, tmp_path):
    out = tmp_path / "out"
    for url in ("http://user:hunter2@gpu-host:8000/v1", "http://tok:hunter2@gpu-host/v1",
                "https://gpu-host/v1?api_key=hunter2"):
        result = cli("render", "--backend", "external", "--model", "m", "--api-base", url, "--output", str(out))
        assert result.exit_code == 2, result.stderr
        assert "hunter2" not in result.stderr + result.stdout
        assert "--api-key-env" in result.stderr and not out.exists()


def test_unsafe_characters_in_flags_are_refused(cli, tmp_path):
    for bad in ("a\u2028b", "a\u2029b", "a\x85b", "a\ufeffb"):
        result = cli("render", "--model", str(tmp_path), "--extra-arg", f"--x={bad}", "--output", str(tmp_path / "o"))
        assert result.exit_code == 2 and "control characters" in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1



def test_templates_compiled_by_other_code_are_never_run(tmp_path, monkeypatch):
    """Jinja's bytecode cache checks a template's source, not the environment it was compiled for;
    `finalize` is compiled into the code. Code compiled without it (an older llmstack, another
    checkout) sits in the user's cache: it must never be run."""
    import jinja2

    from llmstack.targets import jinja as render_module

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    spec = _hostile_spec(spec_of("vllm-qwen2-5-7b"), lambda old: old + PAYLOADS[0])

    def unescaped_environment() -> jinja2.Environment:  # what llmstack compiled before the escaping fix
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(render_module.templates_dir())),
                                 bytecode_cache=render_module.CompiledCache(), undefined=jinja2.StrictUndefined,
                                 keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
        env.filters.update(render_module.environment().filters)
        env.globals.update(render_module.environment().globals)
        return env

    monkeypatch.setattr(render_module, "fingerprint", lambda: "other-code")
    old = unescaped_environment()
    for name in ("docker-compose.yml.j2", "header.j2"):
        old.get_template(name)  # compiled and cached under the other code's fingerprint
    assert list((tmp_path / "llmstack" / "jinja-other-code").iterdir())
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    render_module.environment.cache_clear()
    try:
        assert _structure(_render(spec)) == baseline("vllm-qwen2-5-7b")
        assert len(list((tmp_path / "llmstack").iterdir())) == 2  # its own directory beside the other
    finally:
        render_module.environment.cache_clear()


def test_a_model_path_ending_in_a_slash_still_mounts_its_own_directory_on_kubernetes():
    """Found by the property test above: "/models/X/" gave an empty subPath, which mounts the whole claim."""
    files = _render(_hostile_spec(spec_of("vllm-qwen2-5-7b-k8s"), lambda old: old + "/", only=(".models.mounts",)))
    backend = yaml.safe_load_all(files["backend.yaml"])
    (deployment,) = [d for d in backend if d and d["kind"] == "Deployment"]
    mounts = deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert [(m["mountPath"], m["subPath"]) for m in mounts if m["name"] == "models"] == [
        ("/models/Qwen2.5-7B-Instruct/", "Qwen2.5-7B-Instruct")]
