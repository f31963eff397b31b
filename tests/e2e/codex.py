"""The real Codex CLI for the end-to-end tests: installed from npm at a pinned version into the e2e
cache (once), run non-interactively (`codex exec`), offline and bounded.

How Codex 0.171.0 runs against a stack (measured here; /work/coord/agents.md has the reasons):

- a custom provider, given with `-c` so no config file is needed: `model_provider="llmstack"`,
  `model_providers.llmstack={name, base_url="<gateway>/v1", env_key="<VAR>", wire_api="responses"}`;
  the key is read from the environment variable `env_key` names and sent as `Authorization: Bearer`;
- nothing but the base URL is contacted with `analytics.enabled=false` and `features.plugins=false`
  (without them it looks up ab.chatgpt.com, chatgpt.com, github.com and api.github.com);
- only function tools with `features.multi_agent=false`, `features.goals=false`,
  `web_search="disabled"` (otherwise a `namespace` tool and a `web_search` tool are sent too);
- `--skip-git-repo-check --ephemeral --json`, a fresh `CODEX_HOME` and `HOME`, stdin closed.

    python -m tests.e2e.codex     # install it if missing, print its path
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.images import CACHE, log

VERSION = "0.171.0"
PACKAGE = "@openai/codex"
PREFIX = CACHE / f"codex-{VERSION}"
BINARY = PREFIX / "node_modules" / ".bin" / "codex"
PROVIDER = "llmstack"
KEY_VARIABLE = "LLMSTACK_API_KEY"
QUIET = ("-c", "analytics.enabled=false", "-c", "features.plugins=false", "-c", "check_for_update_on_startup=false")
FUNCTION_TOOLS_ONLY = ("-c", "features.multi_agent=false", "-c", "features.goals=false",
                       "-c", 'web_search="disabled"')


def installed() -> Path | None:
    if not BINARY.exists():
        return None
    try:
        out = subprocess.run([str(BINARY), "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return BINARY if VERSION in out else None


def install() -> Path:
    found = installed()
    if found:
        return found
    npm = shutil.which("npm")
    if not npm:
        raise RuntimeError("npm is not installed (apt-get install npm)")
    PREFIX.mkdir(parents=True, exist_ok=True)
    log(f"npm install {PACKAGE}@{VERSION} (a ~300 MB native binary, once)")
    subprocess.run([npm, "install", "--prefix", str(PREFIX), "--no-audit", "--no-fund", "--loglevel=error",
                    f"{PACKAGE}@{VERSION}"], check=True, stdout=subprocess.DEVNULL)
    found = installed()
    if not found:
        raise RuntimeError(f"npm installed {PACKAGE}@{VERSION} but {BINARY} does not run")
    return found


def provider_args(base_url: str, model: str) -> list[str]:
    """The `-c` settings that point `codex exec` at an OpenAI-compatible Responses endpoint."""
    provider = (f'{{name="{PROVIDER}", base_url="{base_url}", env_key="{KEY_VARIABLE}", '
                f'wire_api="responses"}}')
    return ["-m", model, "-c", f"model_provider={PROVIDER}", "-c", f"model_providers.{PROVIDER}={provider}"]


@dataclass
class Run:
    code: int
    events: list[dict]  # the --json event stream
    stdout: str
    stderr: str
    seconds: float

    @property
    def text(self) -> str:
        """The agent's last message."""
        messages = [e["item"].get("text", "") for e in self.events
                    if e.get("type") == "item.completed" and e.get("item", {}).get("type") == "agent_message"]
        return messages[-1] if messages else ""

    @property
    def commands(self) -> list[dict]:
        return [e["item"] for e in self.events
                if e.get("type") == "item.completed" and e.get("item", {}).get("type") == "command_execution"]

    def __str__(self) -> str:
        return (f"exit {self.code} after {self.seconds:.1f}s\nstdout: {self.stdout[-2000:]}\n"
                f"stderr: {self.stderr[-1500:]}")


def run(binary: Path, workspace: Path, prompt: str, *args: str, key: str = "sk-none", timeout: float = 180) -> Run:
    """`codex exec` once: a fresh CODEX_HOME/HOME (workspace/home), working directory workspace/work."""
    home, work = workspace / "home", workspace / "work"
    home.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    env = {"PATH": f"{binary.parent}:/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "CODEX_HOME": str(home),
           "LANG": "C.UTF-8", KEY_VARIABLE: key}
    argv = [str(binary), "exec", "--skip-git-repo-check", "--ephemeral", "--json", *QUIET, *args, prompt]
    start = time.monotonic()
    try:
        done = subprocess.run(argv, env=env, cwd=work, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)
        code, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        code = -9
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        stderr = (exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")) + "\n(timed out)"
    events = []
    for line in stdout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return Run(code, events, stdout, stderr, time.monotonic() - start)


if __name__ == "__main__":
    print(install(), file=sys.stdout)
