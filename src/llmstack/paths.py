"""Where the templates and the default config live (beside the package in an installed wheel,
at the top of the repository in a source checkout), and what a rendered directory's files are
called. Light on purpose: the runtime commands import it without Jinja."""

from __future__ import annotations

from pathlib import Path

COMPOSE_FILE = "docker-compose.yml"
LITELLM_FILE = "litellm-config.yaml"
ENV_EXAMPLE = ".env.example"
GITIGNORE = ".gitignore"
ENV_FILE = ".env"
MANIFEST = "llmstack-manifest.yaml"
HOOK_FILE = "llmstack_hook.py"  # the gateway's request hook (a copy of gateway_hook.py), when an alias needs it
STARTUP_FILE = "llmstack_startup.py"  # the gateway's startup hook (a copy of gateway_startup.py), with every gateway
# Files a render writes only when the stack needs them: a render that does not removes an earlier one.
OPTIONAL_FILES = (HOOK_FILE, STARTUP_FILE)

# The secrets `.env` holds (render creates them; they never appear in a rendered file or in output).
MASTER_KEY = "LITELLM_MASTER_KEY"  # the gateway's key: every client sends it
BACKEND_KEY = "LLMSTACK_BACKEND_KEY"  # the backends' own key, when they are published beyond this host

_PACKAGE = Path(__file__).resolve().parent
_REPO = _PACKAGE.parent.parent


def _first(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return candidates[-1]


def templates_dir() -> Path:
    return _first(_PACKAGE / "_data" / "templates", _REPO / "templates")


def hook_source() -> Path:
    """llmstack's LiteLLM hook, which a render copies into the stack as HOOK_FILE."""
    return _PACKAGE / "gateway_hook.py"


def startup_source() -> Path:
    """llmstack's LiteLLM startup hook, which a render copies into the stack as STARTUP_FILE."""
    return _PACKAGE / "gateway_startup.py"


def packaged_config() -> Path:
    return _first(_PACKAGE / "_data" / "models.yaml", _REPO / "config" / "models.yaml")
