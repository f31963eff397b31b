"""An installed wheel carries the templates and the default config."""

from __future__ import annotations

import subprocess
import sys
import zipfile


def test_wheel_ships_templates_and_defaults(tmp_path):
    from tests.conftest import REPO

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("llmstack-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in ("docker-compose.yml.j2", "litellm-config.yaml.j2", "env.example.j2", "gitignore.j2",
                     "header.j2"):
        assert f"llmstack/_data/templates/{template}" in names
    assert "llmstack/_data/models.yaml" in names
    assert "llmstack/backends/vllm.py" in names


def test_python_dash_m_works():
    result = subprocess.run([sys.executable, "-m", "llmstack", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("llmstack ")
