"""The engine catalogue wired into the backends (issue 18): the version rendered decides the image,
the flags, the parser names, the switches and the Anthropic route; `llmstack versions` lists the
pins; `render --check` names what an upgrade changes; the host decides the CUDA or CPU image."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from llmstack import backends, catalog, gateway, upgrade
from llmstack.catalog import families as table
from tests.conftest import REPO, snapshot
from tests.examples import COMPOSE, EXAMPLES
from tests.test_bad_input import assert_rejected

QWEN = ("--model", "./models/Qwen2.5-7B-Instruct")
SERVING = [b for b in catalog.backends() if b != "litellm"]


def compose_of(result) -> dict:
    assert result.exit_code == 0, result.stderr
    return yaml.safe_load(result.stdout)


def backend_of(result) -> dict:
    return compose_of(result)["services"]["backend"]


# ---- the pins ---------------------------------------------------------------------------------------

def test_the_pins_are_the_newest_catalogued_releases():
    pins = {name: backends.get(name).defaults.version for name in SERVING}
    assert pins == {"vllm": "v0.33.0", "sglang": "v0.5.23", "trtllm": "1.2.1", "llama": "b11312"}
    assert pins == {name: catalog.versions(name)[-1] for name in SERVING}
    assert gateway.DEFAULTS.version == "v1.108.7" and gateway.pinned_version() == "1.108.7"
    # LiteLLM's published tag scheme since 1.84 (the catalogue entry's image, from its release notes)
    assert catalog.newest("litellm").image("cpu").ref == f"{gateway.DEFAULTS.image}:{gateway.DEFAULTS.version}"


def test_versions_lists_pins_and_every_catalogued_release(cli):
    result = cli("versions")
    assert result.exit_code == 0, result.stderr
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[1:]}
    assert rows["vllm"][0] == "v0.33.0" and rows["vllm"][1:] == list(catalog.versions("vllm"))
    assert rows["litellm"] == ["v1.108.7", "v1.108.7"]
    data = json.loads(cli("versions", "--json").stdout)
    assert {row["engine"] for row in data} == {*SERVING, "litellm"}
    assert "llmstack versions" in " ".join(cli("--help").stdout.split())
    assert "llmstack versions" in " ".join(cli("render", "--help").stdout.split())


# ---- the version decides: notes, refusals ---------------------------------------------------------------

def test_an_uncatalogued_version_uses_the_nearest_older_entry_and_says_so(cli, workdir):
    result = cli("render", *QWEN, "--backend-version", "v0.20.1", "--stdout")
    backend = backend_of(result)
    assert backend["image"] == "vllm/vllm-openai:v0.20.1"  # the nearest entry's tag scheme, this version
    assert "vllm v0.20.1 is not catalogued: using what v0.18.0 (the nearest older catalogued version) ships" \
        in result.stderr
    newer = cli("render", *QWEN, "--backend-version", "v0.40.0", "--backend", "sglang", "--stdout")
    assert backend_of(newer)["image"] == "lmsysorg/sglang:v0.40.0"
    assert "sglang v0.40.0 is not catalogued: using what v0.5.23" in newer.stderr
    llama = cli("render", "--model", "./models/tiny.gguf", "--cpu", "--backend-version", "b7349", "--stdout")
    assert backend_of(llama)["image"] == "ghcr.io/ggml-org/llama.cpp:server-b7349"
    assert "llama b7349 is older than every catalogued version: using b11312" in llama.stderr


def test_a_parser_the_version_lacks_exits_2_naming_the_versions_that_have_it(cli, workdir):
    before = snapshot(workdir)
    assert_rejected(cli("render", *QWEN, "--backend-version", "v0.12.0", "--tool-parser", "glm47"),
                    "--tool-parser glm47: vLLM v0.12.0 has no tool parser glm47 (catalogued versions with it: "
                    "v0.17.0, v0.18.0, v0.23.0, v0.24.0, v0.32.0, v0.33.0)", before, workdir)
    # ... and a name a newer release dropped (vLLM removed `minimax` in 0.24)
    assert_rejected(cli("render", *QWEN, "--tool-parser", "minimax"),
                    "--tool-parser minimax: vLLM v0.33.0 has no tool parser minimax (catalogued versions with it: "
                    "v0.12.0, v0.17.0, v0.18.0, v0.23.0)", before, workdir)
    assert_rejected(cli("render", *QWEN, "--backend", "sglang", "--backend-version", "v0.5.6",
                        "--reasoning-parser", "gemma4"),
                    "SGLang v0.5.6 has no reasoning parser gemma4 (catalogued versions with it: v0.5.12", before,
                    workdir)
    # SGLang's `auto` (from 0.5.12) is accepted where it exists
    command = backend_of(cli("render", *QWEN, "--backend", "sglang", "--tool-parser", "auto", "--stdout"))["command"]
    assert command[command.index("--tool-call-parser") + 1] == "auto"


def test_a_parser_an_uncatalogued_version_may_have_passes_with_a_note(cli, workdir):
    result = cli("render", *QWEN, "--backend-version", "v0.40.0", "--tool-parser", "hermes_v9", "--stdout")
    assert "--tool-call-parser hermes_v9" in " ".join(backend_of(result)["command"])
    assert "not in the catalogue's tool parser list for vLLM v0.40.0" in result.stderr


def test_a_flag_the_version_lacks_exits_2_naming_the_versions_that_have_it(cli, workdir):
    before = snapshot(workdir)
    assert_rejected(cli("render", *QWEN, "--extra-arg=--swap-space=4"),
                    "--extra-arg --swap-space=4: vLLM v0.33.0 has no such flag (catalogued versions with it: v0.12.0, "
                    "v0.17.0)",
                    before, workdir)
    assert_rejected(cli("render", *QWEN, "--backend-version", "v0.12.0", "--extra-arg=--attention-backend=FLASHINFER"),
                    "vLLM v0.12.0 has no such flag (catalogued versions with it: v0.17.0", before, workdir)
    assert_rejected(cli("render", *QWEN, "--extra-arg=--frobnicate"), "no catalogued version has it", before,
                    workdir)
    # the forms argparse reads: `_` for `-`, `--no-X` of a boolean, `--X.key` of a JSON option, `=value`
    for extra in ("--enable_prefix_caching", "--no-enable-prefix-caching", "--compilation-config.mode=0",
                  "--max-num-seqs=8"):
        assert cli("render", *QWEN, f"--extra-arg={extra}", "--stdout").exit_code == 0, extra


def _config_with_versions(workdir: Path, name: str, versions: dict[str, str]) -> Path:
    """A models.yaml rendering `name` (a golden example) with these backend versions."""
    config = yaml.safe_load((REPO / "config" / "models.yaml").read_text()) or {}
    config.setdefault("defaults", {}).setdefault("backends", {})
    for backend, version in versions.items():
        config["defaults"]["backends"].setdefault(backend, {})["version"] = version
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _example_backends(name: str) -> list[str]:
    compose = yaml.safe_load((REPO / "compose" / name / "docker-compose.yml").read_text())
    manifest = yaml.safe_load((REPO / "compose" / name / "llmstack-manifest.yaml").read_text())
    engines = manifest["stack"]["engines"]
    return sorted({engines[s]["backend"] for s in compose["services"] if s != "litellm"})


CONTRACT = [(name, backend, version) for name in COMPOSE for backend in _example_backends(name)
            for version in catalog.versions(backend)]


@pytest.mark.parametrize(("name", "backend", "version"), CONTRACT, ids=[f"{n}-{v}" for n, _, v in CONTRACT])
def test_every_golden_at_every_catalogued_version_renders_only_what_that_version_takes(
        cli, workdir, monkeypatch, name, backend, version):
    """The contract: each flag a golden renders is in that version's flag list, each parser in its registry."""
    monkeypatch.chdir(REPO)
    config = _config_with_versions(workdir, name, {backend: version})
    args = [a for a in EXAMPLES[name] if a != "--force"]
    result = cli("render", *args, "--config", str(config), "--output", str(workdir / "out"))
    assert result.exit_code == 0, result.stderr
    manifest = yaml.safe_load((workdir / "out" / "llmstack-manifest.yaml").read_text())
    entry = catalog.entry(backend, version)
    for service, engine in manifest["stack"]["engines"].items():
        if engine["backend"] != backend:
            continue
        assert engine["version"] == version and engine["catalogued"] == version
        assert any(image.ref.split(":")[-1] in engine["image"] for image in entry.images), engine["image"]
        for flag in engine["flags"]:
            assert entry.accepts_flag(flag), (service, flag)
        if engine["tool_parser"]:
            assert entry.tool_parsers is not None and entry.tool_parsers.accepts(engine["tool_parser"])
        if engine["reasoning_parser"]:
            assert entry.reasoning_parsers is not None and entry.reasoning_parsers.accepts(engine["reasoning_parser"])


def test_the_family_table_names_only_parsers_some_catalogued_version_has():
    """A typo in catalog/families.py would never match a registry: every name exists somewhere."""
    for family, rows in table.TABLE.items():
        for backend, row in rows.items():
            for name in row.tool:
                assert catalog.with_tool_parser(backend, name), (family, backend, name)
            for name in row.reasoning or ():
                assert catalog.with_reasoning_parser(backend, name), (family, backend, name)
            for switch in row.switches:
                assert catalog.with_flag(backend, switch.flag), (family, backend, switch.flag)


@pytest.mark.parametrize("backend", SERVING)
def test_each_version_gets_the_first_parser_name_its_registry_has(backend):
    for version in catalog.versions(backend):
        facts = backends.get(backend).facts(version)
        entry = catalog.entry(backend, version)
        for family in table.families_served(backend):
            row = table.serving(family, backend)
            assert row is not None
            accepted = [n for n in row.tool if entry.tool_parsers and entry.tool_parsers.accepts(n)]
            assert facts.tool_parser_for(family) == (accepted[0] if accepted else None), (version, family)


# ---- images by host -------------------------------------------------------------------------------

def fake_nvidia_smi(root: Path, monkeypatch, driver: str) -> None:
    """nvidia-smi answering the driver query with `driver` and the memory query with one 80 GB GPU."""
    bin_dir = root / "fake-bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "nvidia-smi"
    script.write_text(f"#!/bin/sh\ncase \"$*\" in *driver_version*) echo {driver};; "
                      "*) echo '0, NVIDIA H100, 81559';; esac\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize(("args", "image"), [
    (("--backend-version", "v0.32.0", "--cuda", "12"), "vllm/vllm-openai:v0.32.0-cu129"),
    (("--backend-version", "v0.18.0", "--cuda", "13"), "vllm/vllm-openai:v0.18.0-cu130"),
    (("--cuda", "13.0"), "vllm/vllm-openai:v0.33.0"),
    (("--backend-version", "v0.17.0",), "vllm/vllm-openai:v0.17.0"),  # CUDA 12.9 by default then
])
def test_the_cuda_version_asked_for_picks_the_image(cli, workdir, args, image):
    assert backend_of(cli("render", *QWEN, "--gpus", "1", *args, "--stdout"))["image"] == image


def test_a_cuda_version_a_release_does_not_publish_is_refused(cli, workdir):
    before = snapshot(workdir)
    # vLLM 0.33.0 publishes CUDA 13 images only (its release script builds cu129 for nightlies alone)
    assert_rejected(cli("render", *QWEN, "--gpus", "1", "--cuda", "12"),
                    "--cuda 12: vLLM v0.33.0 publishes no CUDA 12 image (its images are built for CUDA 13.0.3); "
                    "catalogued versions with it: v0.12.0, v0.17.0, v0.18.0, v0.23.0, v0.24.0, v0.32.0",
                    before, workdir)
    assert_rejected(cli("render", *QWEN, "--backend", "sglang", "--gpus", "1", "--cuda", "12"),
                    "the catalogue records no CUDA version for its images", before, workdir)
    assert_rejected(cli("render", *QWEN, "--cpu", "--cuda", "12"), "--cuda 12: a CUDA image needs GPUs, but --cpu",
                    before, workdir)
    assert_rejected(cli("render", *QWEN, "--gpus", "1", "--cuda", "twelve"), "--cuda 'twelve': a CUDA version",
                    before, workdir)


def test_llama_cpp_has_a_cuda_13_build(cli, workdir):
    backend = backend_of(cli("render", "--model", "./models/tiny.gguf", "--gpus", "1", "--cuda", "13", "--stdout"))
    assert backend["image"] == "ghcr.io/ggml-org/llama.cpp:server-cuda13-b11312"


def test_the_host_driver_picks_an_image_it_runs(cli, workdir, monkeypatch):
    fake_nvidia_smi(workdir, monkeypatch, "570.86.10")  # a CUDA 12 driver (< 580)
    result = cli("render", *QWEN, "--gpus", "1", "--backend-version", "v0.32.0", "--stdout")
    assert backend_of(result)["image"] == "vllm/vllm-openai:v0.32.0-cu129"
    assert "this host's driver 570.86.10 (nvidia-smi) is older than 580" in result.stdout
    before = snapshot(workdir)
    assert_rejected(cli("render", *QWEN, "--gpus", "1"),
                    "vLLM v0.33.0's images need NVIDIA driver >= 580 (CUDA 13.0.3); this host's driver is 570.86.10 "
                    "(nvidia-smi): upgrade the driver; catalogued versions with it: v0.12.0, v0.17.0, v0.18.0, "
                    "v0.23.0, v0.24.0, v0.32.0", before, workdir)
    fake_nvidia_smi(workdir, monkeypatch, "580.65.06")
    assert backend_of(cli("render", *QWEN, "--gpus", "1", "--stdout"))["image"] == "vllm/vllm-openai:v0.33.0"


def test_a_mirror_keeps_the_cpu_repository_suffix(cli, workdir):
    (workdir / "mirror.yaml").write_text(
        "defaults:\n  backends:\n    vllm: {image: registry.example.com/vllm-openai}\n")
    cpu = backend_of(cli("render", *QWEN, "--cpu", "--config", "mirror.yaml", "--stdout"))
    assert cpu["image"] == "registry.example.com/vllm-openai-cpu:v0.33.0-x86_64"
    gpu = backend_of(cli("render", *QWEN, "--gpus", "1", "--config", "mirror.yaml", "--stdout"))
    assert gpu["image"] == "registry.example.com/vllm-openai:v0.33.0"


def test_the_manifest_records_what_the_image_needs_and_doctor_checks_it(cli, workdir):
    from llmstack import doctor, stackdir
    from tests.test_doctor import FakeHost, by_check

    assert cli("render", *QWEN, "--gpus", "1", "--name", "d").exit_code == 0
    stack = stackdir.load("d")
    engine = stack.engines["backend"]
    assert (engine.image, engine.cuda, engine.min_driver) == ("vllm/vllm-openai:v0.33.0", "13.0.3", "580")
    old = by_check(doctor.run_checks(stack, FakeHost(driver="570.86.10")))["NVIDIA driver for backend"]
    assert old.status == "fail" and "needs driver >= 580; this host has 570.86.10" in old.detail
    assert by_check(doctor.run_checks(stack, FakeHost(driver="580.65.06")))["NVIDIA driver for backend"].status \
        == "pass"
    assert cli("render", *QWEN, "--backend", "sglang", "--cpu", "--name", "x").exit_code == 0
    xeon = stackdir.load("x")
    lacking = by_check(doctor.run_checks(xeon, FakeHost(cpu_flags={"x86_64", "avx2"})))["CPU for backend"]
    assert lacking.status == "fail" and "needs AVX-512, AMX" in lacking.detail
    having = FakeHost(cpu_flags={"x86_64", "avx512f", "amx_tile"})
    assert by_check(doctor.run_checks(xeon, having))["CPU for backend"].status == "pass"


# ---- upgrades are reviewable ----------------------------------------------------------------------

QWEN3 = ("--model", "./qwen3", "--gpus", "1", "--name", "s")


@pytest.fixture
def qwen3(workdir: Path) -> Path:
    shutil.copytree(REPO / "tests" / "fixtures" / "models" / "families" / "Qwen3-8B", workdir / "qwen3")
    return workdir

def test_check_names_what_a_pin_move_changes(cli, qwen3):
    old = _config_with_versions(qwen3, "old", {"vllm": "v0.12.0", "litellm": "main-v1.104.5"})
    assert cli("render", *QWEN3, "--config", str(old)).exit_code == 0
    result = cli("render", *QWEN3, "--check")
    assert result.exit_code == 1
    changes = [line.strip() for line in result.stderr.splitlines() if "engine change:" in line]
    assert changes[0] == ("engine change: backend (vllm): release v0.12.0 -> v0.33.0; image vllm/vllm-openai:v0.12.0 "
                          "-> vllm/vllm-openai:v0.33.0 (CUDA 13.0.3, driver >= 580)")
    assert changes[1] == ("engine change: litellm: image ghcr.io/berriai/litellm:main-v1.104.5 -> "
                          "ghcr.io/berriai/litellm:v1.108.7")


def test_check_names_parser_and_flag_changes(cli, qwen3):
    assert cli("render", *QWEN3, "--backend", "sglang", "--backend-version", "v0.5.6").exit_code == 0
    result = cli("render", *QWEN3, "--backend", "sglang", "--backend-version", "v0.5.23", "--tool-parser", "auto",
                 "--check")
    line = next(line for line in result.stderr.splitlines() if "backend (sglang)" in line)
    assert "release v0.5.6 -> v0.5.23" in line and "tool parser qwen -> auto" in line


def test_a_stack_rendered_before_the_engine_record_is_compared_by_its_compose_file(tmp_path):
    shutil.copy(REPO / "compose" / "vllm-qwen2-5-7b" / "docker-compose.yml", tmp_path)
    compose = yaml.safe_load((tmp_path / "docker-compose.yml").read_text())
    compose["services"]["backend"]["image"] = "vllm/vllm-openai:v0.12.0"
    compose["services"]["backend"]["command"].append("--swap-space=4")
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(compose))
    from llmstack import manifest

    fresh = manifest.read(REPO / "compose" / "vllm-qwen2-5-7b")
    assert fresh is not None
    lines = upgrade.changes(tmp_path, None, fresh.stack)
    assert lines[0].startswith("backend (vllm): image vllm/vllm-openai:v0.12.0 -> vllm/vllm-openai:v0.33.0")
    assert "flags removed --swap-space" in lines[0]
