"""An installed wheel carries the templates and the default config; the light commands stay light."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest


def test_wheel_ships_templates_and_defaults(tmp_path):
    from tests.conftest import REPO

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("llmstack-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in ("docker-compose.yml.j2", "litellm-config.yaml.j2", "env.example.j2", "gitignore.j2",
                     "header.j2", "kubernetes/kustomization.yaml.j2", "kubernetes/backend.yaml.j2",
                     "kubernetes/litellm.yaml.j2", "kubernetes/macros.j2"):
        assert f"llmstack/_data/templates/{template}" in names
    assert "llmstack/_data/models.yaml" in names
    assert "llmstack/backends/vllm.py" in names
    assert "llmstack/catalog/data/vllm/v0.33.0.json" in names  # the engine catalogue


def test_python_dash_m_works():
    result = subprocess.run([sys.executable, "-m", "llmstack", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("llmstack ")


@pytest.mark.parametrize("module, allowed", [
    ("llmstack.cli", set()),  # --help and --version
    ("llmstack.stackdir", {"yaml"}),  # up, down, status, logs read the rendered files
    ("llmstack.runtime", {"yaml"}),
    ("llmstack.doctor", {"yaml"}),
    ("llmstack.claude", set()),  # `llmstack claude` starts Claude Code at once
    ("llmstack.catalog", set()),  # the catalogue loader: JSON only
])
def test_heavy_imports_stay_off_paths_that_do_not_need_them(module, allowed):
    heavy = ("jinja2", "httpx", "pydantic", "yaml", "rich")
    probe = f"import sys, {module}; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert set(result.stdout.split()) <= allowed


def test_importing_the_package_changes_no_environment_variable():
    probe = ("import os; before = dict(os.environ); import llmstack, llmstack.cli, llmstack.main; "
             "print(sorted(set(os.environ.items()) ^ set(before.items())))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
