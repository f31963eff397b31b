"""Property tests over CLI values: any accepted input renders a compose file that the real
Compose CLI accepts (with paths surviving interpolation intact); any rejected input yields one
line, exit 2, and nothing written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from llmstack.escaping import is_safe
from tests.conftest import FIXTURES, compose_binary, snapshot

QWEN_CONFIG = FIXTURES / "families" / "Qwen2.5-7B-Instruct" / "config.json"

# Names of model directories: unicode, spaces, quotes, `$`, braces; no `/` and no NUL.
path_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
    min_size=1, max_size=16,
).filter(lambda s: s not in (".", ".."))

options = st.fixed_dictionaries(
    {},
    optional={
        "--name": st.one_of(st.from_regex(r"[a-z0-9][a-z0-9_-]{0,15}", fullmatch=True), st.text(max_size=8)),
        "--litellm-alias": st.one_of(st.sampled_from(["local-model", "gpt-4o", "qwen:7b", "a.b_c"]),
                                     st.text(max_size=10)),
        "--litellm-port": st.integers(-2, 70000).map(str),
        "--port": st.integers(-2, 70000).map(str),
        "--gpus": st.sampled_from(["all", "none", "2", "0,1", "device=3", "x", "0,0", "-1", "1,a"]),
        "--tensor-parallel": st.integers(0, 4).map(str),
        "--bind": st.sampled_from(["127.0.0.1", "0.0.0.0", "::1", "nope", "10.0.0.5"]),
        "--network": st.sampled_from(["bridge", "host", "overlay"]),
        "--backend": st.sampled_from(["auto", "vllm", "sglang", "llama", "trtllm", "tgi"]),
        "--max-model-len": st.integers(-1, 200000).map(str),
        "--extra-arg": st.text(max_size=12).map(lambda s: "--x=" + s),
    },
)


def _compose_json(directory: Path) -> dict:
    env = {**os.environ, "LITELLM_MASTER_KEY": "sk-validation-only-not-a-secret"}
    quiet = subprocess.run(compose_binary() + ["config", "--quiet"], cwd=directory, capture_output=True,
                           text=True, env=env)
    assert quiet.returncode == 0, quiet.stderr
    out = subprocess.run(compose_binary() + ["config", "--format", "json"], cwd=directory, capture_output=True,
                         text=True, env=env, check=True)
    return json.loads(out.stdout)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dirname=path_names, as_gguf=st.booleans(), opts=options)
def test_any_input_renders_valid_compose_or_is_rejected_cleanly(dirname, as_gguf, opts):
    from llmstack.cli import app

    root = Path(tempfile.mkdtemp(prefix="prop-"))
    try:
        model = root / dirname
        if as_gguf:
            model.mkdir()
            model = model / "model.gguf"
            model.write_bytes(b"GGUF")
        else:
            model.mkdir()
        out = root / "out"
        args = ["render", "--model", str(model), "--output", str(out)]
        if "--gpus" not in opts and "--tensor-parallel" not in opts:
            args.append("--cpu")  # no GPU flags drawn: also cover the CPU variant
        for flag, value in opts.items():
            args += [f"{flag}={value}"]
        before = snapshot(root)
        result = CliRunner().invoke(app, args, catch_exceptions=False)
        if result.exit_code == 0:
            config = _compose_json(out)
            backend = config["services"]["backend"]
            sources = [v["source"] for v in backend.get("volumes", []) if v.get("type") == "bind"]
            # Compose prints `$` escaped as `$$` again; unescaped, it is the real path.
            assert [s.replace("$$", "$") for s in sources] == [str(model.resolve())]
        else:
            assert result.exit_code == 2, (args, result.exit_code, result.stderr)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("llmstack: error: "), result.stderr
            assert snapshot(root) == before
    finally:
        shutil.rmtree(root, ignore_errors=True)


@settings(max_examples=40, deadline=None)
@given(dirname=path_names, alias=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,20}", fullmatch=True),
       relative=st.booleans())
def test_accepted_paths_survive_compose_interpolation(dirname, alias, relative):
    """Valid inputs only: every one renders, and Compose reads back exactly the path given."""
    from llmstack.cli import app

    root = Path(tempfile.mkdtemp(prefix="prop-ok-"))
    cwd = os.getcwd()
    try:
        model = root / "models" / dirname
        model.mkdir(parents=True)
        shutil.copy(QWEN_CONFIG, model / "config.json")  # a model directory (one with no model in it is refused)
        os.chdir(root)
        given = f"./models/{dirname}" if relative else str(model)
        output = "out" if relative else str(root / "out")
        result = CliRunner().invoke(app, ["render", "--model", given, "--output", output, "--name", "p",
                                          "--litellm-alias", alias], catch_exceptions=False)
        if not is_safe(dirname):
            assert result.exit_code == 2 and "control characters" in result.stderr
            return
        assert result.exit_code == 0, result.stderr
        config = _compose_json(root / "out")
        source = config["services"]["backend"]["volumes"][0]["source"].replace("$$", "$")
        assert os.path.realpath(source) == os.path.realpath(model)
        assert config["services"]["backend"]["volumes"][0]["read_only"] is True
    finally:
        os.chdir(cwd)
        shutil.rmtree(root, ignore_errors=True)
