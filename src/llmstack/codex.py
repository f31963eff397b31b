"""`llmstack codex`: OpenAI's Codex CLI against a rendered stack, or the settings that point it there.

What Codex (npm `@openai/codex`, measured with 0.171.0: tests/e2e/codex.py, /work/coord/agents.md)
needs to talk to the gateway:

- A model provider of its own: Codex speaks only the Responses API (`wire_api = "responses"`; it
  refuses "chat"), at `base_url` = the gateway URL with `/v1`. The key is read from the
  environment variable `env_key` names (LLMSTACK_API_KEY here; set to the master key for a run)
  and sent as `Authorization: Bearer`, what LiteLLM checks. Codex's OpenAI login is not used.
- `model` = an alias of the stack (default: the first); `model_context_window` = its context.
  Codex knows no llmstack alias ("Model metadata ... not found. Defaulting to fallback
  metadata"); with the window set it sizes its prompt (skills) and compacts the conversation
  before the stack's context is full (measured: a window below the prompt makes it compact).
- `analytics.enabled = false`, `features.plugins = false`, `check_for_update_on_startup = false`:
  then the base URL is the only host contacted (measured with strace; otherwise ab.chatgpt.com,
  chatgpt.com, github.com, api.github.com).
- `features.multi_agent = false`, `features.goals = false`, `web_search = "disabled"`: function
  tools only (LiteLLM's Responses bridge flattens a `namespace` tool and drops `web_search`).

Settings go on Codex's command line (`-c key=value`, before any subcommand: `llmstack codex STACK
-- exec "PROMPT"` runs `codex -c ... exec "PROMPT"`), so no config file is written; `--print-config`
prints them as a `~/.codex/config.toml` fragment (the key stays in the environment). The key only
goes to the gateway the verified manifest names (StackDir.gateway), around any proxy for a
loopback gateway (NO_PROXY), as `llmstack claude` does.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

from llmstack.claude import NO_PROXY_LINES, find_client, no_proxy
from llmstack.claude import launch as exec_client
from llmstack.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from llmstack.stackdir import StackDir

INSTALL = "npm install -g @openai/codex"
PROVIDER = "llmstack"
KEY_VARIABLE = "LLMSTACK_API_KEY"
MODEL_FLAGS = ("-m", "--model")


@dataclass
class CodexConfig:
    alias: str
    base_url: str  # the gateway's /v1
    key: str
    context: int | None  # the alias's context, when the manifest knows it
    notes: list[str] = field(default_factory=list)  # one line each, for stderr

    def settings(self) -> list[tuple[str, object]]:
        """(dotted key, value) in Codex's config: what `-c` sets and config.toml holds."""
        found: list[tuple[str, object]] = [("model", self.alias), ("model_provider", PROVIDER)]
        if self.context:
            found.append(("model_context_window", self.context))
        found += [
            ("web_search", "disabled"),
            ("check_for_update_on_startup", False),
            (f"model_providers.{PROVIDER}", {"name": PROVIDER, "base_url": self.base_url, "env_key": KEY_VARIABLE,
                                             "wire_api": "responses"}),
            ("analytics.enabled", False),
            ("features.plugins", False),
            ("features.multi_agent", False),
            ("features.goals", False),
        ]
        return found


def toml_value(value: object) -> str:
    """A TOML value: a basic string (JSON's escapes are TOML's; DEL escaped too), an integer, a
    boolean, an inline table of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + "}"
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


def config(stack: StackDir, alias: str | None = None) -> CodexConfig:
    """Where Codex goes for this stack: the gateway's /v1, an alias, the key."""
    if not stack.gateway_url:
        raise InputError(f"{stack.directory} has no LiteLLM gateway (rendered with --no-litellm); Codex talks to "
                         "the gateway: re-render without --no-litellm")
    if not stack.aliases:
        raise InputError(f"{stack.directory}: the manifest names no model alias; re-render the stack")
    known = {a.name: a for a in stack.aliases}
    chosen = alias or stack.aliases[0].name
    if chosen not in known:
        raise InputError(f"--model {chosen}: no alias of {stack.directory} (aliases: {', '.join(known)})")
    url, key = stack.gateway()  # the manifest verified, the URL what the compose file publishes
    notes = []
    if known[chosen].context is None:
        notes.append(f"{chosen}: its context is not recorded; Codex assumes its own fallback window")
    return CodexConfig(chosen, f"{url}/v1", key, known[chosen].context, notes)


def model_in(args: list[str]) -> str | None:
    """The model a user's Codex arguments name (`-m X`, `--model X`, `--model=X`), if any."""
    for n, arg in enumerate(args):
        if arg in MODEL_FLAGS and n + 1 < len(args):
            return args[n + 1]
        if arg.startswith("--model="):
            return arg.split("=", 1)[1]
    return None


def command_args(cfg: CodexConfig, passed: list[str]) -> list[str]:
    """Codex's arguments: ours (`-c`, root options, so before any subcommand), then the user's;
    a model the user names wins over ours."""
    own = [f"{key}={toml_value(value)}" for key, value in cfg.settings()
           if not (key == "model" and model_in(passed) is not None)]
    return [arg for setting in own for arg in ("-c", setting)] + list(passed)


def toml_text(cfg: CodexConfig, stack_name: str) -> str:
    """The settings as a `~/.codex/config.toml` fragment (top-level keys first, then the tables)."""
    lines = [f"# Codex CLI settings for the llmstack stack {stack_name} "
             f"(`llmstack codex {stack_name} --print-config`).",
             f"# The key is not here: Codex reads it from {KEY_VARIABLE} (`eval \"$(llmstack codex {stack_name} "
             "--print-env)\"`)."]
    tables: dict[str, list[str]] = {}
    for key, value in cfg.settings():
        table, _, name = key.rpartition(".")
        if isinstance(value, dict):
            tables[key] = [f"{item} = {toml_value(v)}" for item, v in value.items()]
        elif table:
            tables.setdefault(table, []).append(f"{name} = {toml_value(value)}")
        else:
            lines.append(f"{key} = {toml_value(value)}")
    for table, entries in tables.items():
        lines += ["", f"[{table}]", *entries]
    return "\n".join(lines) + "\n"


def export_lines(cfg: CodexConfig) -> str:
    """POSIX shell lines for `eval "$(llmstack codex STACK --print-env)"`: the key, and no proxy
    for a loopback gateway."""
    from llmstack.stackdir import is_loopback

    lines = [f"export {KEY_VARIABLE}={shlex.quote(cfg.key)}"]
    if is_loopback(cfg.base_url):
        lines += NO_PROXY_LINES
    return "\n".join(lines) + "\n"


def run_environment(cfg: CodexConfig, base: dict[str, str]) -> dict[str, str]:
    """The process environment of a Codex run: the user's, the key in KEY_VARIABLE, and no proxy
    for a loopback gateway (Codex's HTTP client honours the standard proxy variables)."""
    from llmstack.stackdir import is_loopback

    run = {**base, KEY_VARIABLE: cfg.key}
    if is_loopback(cfg.base_url):
        run["NO_PROXY"] = run["no_proxy"] = no_proxy(base)
    return run


def find_codex(path: str | None = None) -> str:
    return find_client("codex", "the Codex CLI", INSTALL, path)


def launch(binary: str, args: list[str], env: dict[str, str]) -> NoReturn:
    """Replace this process with Codex."""
    exec_client(binary, args, env, INSTALL)
