"""`llmstack claude`: Claude Code against a rendered stack, or the settings that point it there.

What Claude Code (2.1.x; measured with 2.1.197) needs to talk to the gateway:

- `ANTHROPIC_BASE_URL`: the gateway URL without `/v1`; `ANTHROPIC_AUTH_TOKEN`: the master key,
  sent as `Authorization: Bearer` (what LiteLLM checks). `ANTHROPIC_API_KEY` would be sent as
  `x-api-key` as well: it is left out of a run.
- `ANTHROPIC_DEFAULT_{OPUS,SONNET,HAIKU,FABLE}_MODEL`: the stack's aliases for its four tiers (the
  same mapping as the gateway's `claude-<tier>-*` routes), so every request names an alias;
  `ANTHROPIC_MODEL`: the opus tier's, the default model. `CLAUDE_CODE_DISABLE_1M_CONTEXT=1`:
  Claude Code's default is a one-million-token "opus[1m]", which it would take the alias for.
  2.1.332's fourth tier, `--model fable`, asks for `claude-fable-5-2` unless its variable names a
  model (measured); a stack rendered before the gateway routed `claude-fable-*` gets the opus
  tier's alias for it.
- `CLAUDE_CODE_MAX_CONTEXT_TOKENS`: the smallest tier context. Claude Code assumes 1,000,000
  tokens for a model name it does not know (every alias; measured with 2.1.332) and compacts the
  conversation only near that; with this it compacts before the stack's context is full.
  (`CLAUDE_CODE_AUTO_COMPACT_WINDOW` cannot say it: 2.1.332 raises anything below 100,000 to
  100,000.)
- `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`: no telemetry, updates or error reports; the base
  URL is the only host contacted. `CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS=1`: no request fields
  only Anthropic's API implements (`context_management`).
- `CLAUDE_CODE_ATTRIBUTION_HEADER=0`: without it the first system block is a billing line that
  differs between conversations, which defeats the backend's prefix cache.
- `API_TIMEOUT_MS`: a local model may take minutes to read a long prompt (default 10 minutes).
- `CLAUDE_CODE_MAX_OUTPUT_TOKENS`: a quarter of the smallest context (at most 32,000), so
  prompt plus answer fit; Claude Code would otherwise ask for up to 64,000 tokens.

Kept light (no httpx, pydantic or Jinja): the command starts Claude Code at once.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from llmstack.errors import EnvironmentProblem, InputError, StackFailed
from llmstack.gateway import CLAUDE_TIERS as TIERS
from llmstack.gateway import context_advice

if TYPE_CHECKING:  # pragma: no cover
    from llmstack.stackdir import StackDir

INSTALL = "npm install -g @anthropic-ai/claude-code"
API_TIMEOUT_MS = 30 * 60 * 1000
MAX_OUTPUT_TOKENS = 32_000
SETTINGS_FILE = Path(".claude") / "settings.json"
# Settings a user's environment may already hold for a run: their value wins over ours.
TUNABLE = ("API_TIMEOUT_MS", "CLAUDE_CODE_MAX_OUTPUT_TOKENS", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
           "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS", "CLAUDE_CODE_ATTRIBUTION_HEADER", "CLAUDE_CODE_MAX_CONTEXT_TOKENS")
# Another way to authenticate, which would reach the gateway beside the master key.
LEFT_OUT = ("ANTHROPIC_API_KEY",)


@dataclass
class ClaudeEnv:
    values: dict[str, str]  # what Claude Code's environment (or settings `env`) gets
    notes: list[str] = field(default_factory=list)  # one line each, for stderr


def tier_aliases(stack: StackDir) -> dict[str, str]:
    """Each tier -> the alias the gateway routes that tier's `claude-<tier>-*` names to (a stack
    rendered before `claude-fable-*` was routed: fable -> the opus tier's)."""
    if not stack.aliases:
        raise InputError(f"{stack.directory}: the manifest names no model alias; re-render the stack")
    first = stack.aliases[0].name
    tiers = {tier: stack.claude.get(f"claude-{tier}-*", first) for tier in TIERS if tier != "fable"}
    tiers["fable"] = stack.claude.get("claude-fable-*", tiers["opus"])
    return tiers


def environment(stack: StackDir) -> ClaudeEnv:
    """The variables that point Claude Code at this stack's gateway."""
    if not stack.gateway_url:
        raise InputError(f"{stack.directory} has no LiteLLM gateway (rendered with --no-litellm); Claude Code "
                         "talks to the gateway: re-render without --no-litellm")
    tiers = tier_aliases(stack)
    url, key = stack.gateway()  # the manifest verified, the URL what the compose file publishes
    values = {
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_AUTH_TOKEN": key,
        "ANTHROPIC_MODEL": tiers["opus"],
        **{f"ANTHROPIC_DEFAULT_{tier.upper()}_MODEL": alias for tier, alias in tiers.items()},
        "CLAUDE_CODE_DISABLE_1M_CONTEXT": "1",
        "API_TIMEOUT_MS": str(API_TIMEOUT_MS),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS": "1",
        "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",
    }
    contexts = {a.name: a.context for a in stack.aliases if a.name in tiers.values()}
    known = [c for c in contexts.values() if c]
    if known:
        values["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(max(1024, min(MAX_OUTPUT_TOKENS, min(known) // 4)))
        values["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] = str(min(known))
    notes = []
    for alias, context in contexts.items():
        advice = context_advice(alias, context, None, "--max-model-len") if context else None
        if advice:
            notes.append(advice.replace("raise it with", "re-render it with"))
    return ClaudeEnv(values, notes)


def export_lines(env: ClaudeEnv) -> str:
    """POSIX shell lines for `eval "$(llmstack claude STACK --print-env)"`."""
    from llmstack.stackdir import is_loopback

    lines = [f"export {name}={shlex.quote(value)}" for name, value in env.values.items()]
    if is_loopback(env.values.get("ANTHROPIC_BASE_URL", "")):  # keep the key off any proxy
        lines += NO_PROXY_LINES
    lines += [f"unset {name}" for name in LEFT_OUT]
    return "\n".join(lines) + "\n"


def settings_text(env: ClaudeEnv) -> str:
    return json.dumps({"env": env.values}, indent=2) + "\n"


def _read_settings(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read it ({getattr(exc, 'strerror', None) or exc}); "
                         "fix its permissions or pass another path to --write") from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); fix it or move it away, "
                         "then run again (nothing was written)") from None
    if not isinstance(data, dict) or not isinstance(data.get("env", {}), dict):
        raise InputError(f"{path}: expected a JSON object whose `env` is an object; fix it or move it away, "
                         "then run again (nothing was written)")
    return data


def _git_ignored(path: Path) -> bool | None:
    """Whether git ignores the file (None: not in a git work tree, or no git)."""
    try:
        result = subprocess.run(["git", "-C", str(path.parent), "check-ignore", "-q", str(path)],
                                capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return {0: True, 1: False}.get(result.returncode)


def write_settings(path: Path, env: ClaudeEnv) -> list[str]:
    """Merge the `env` block into a Claude Code settings file (other keys and variables are kept),
    atomically, mode 0600 (it holds the key). Returns what to tell the user."""
    data = _read_settings(path)
    existing = dict(data.get("env") or {})
    replaced = sorted(k for k, v in env.values.items() if k in existing and existing[k] != v)
    data["env"] = {**existing, **env.values}
    text = json.dumps(data, indent=2) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, 0o600)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise InputError(f"{path}: cannot write it ({exc.strerror or exc}); pass a writable path to --write") from None
    others = [k for k in data if k != "env"]
    kept = [f"kept its other settings ({', '.join(others)})"] if others else []
    changes = [f"replaced {', '.join(replaced)}"] if replaced else []
    lines = [f"Wrote {path}: an `env` block of {len(env.values)} variables"
             + "".join(f"; {part}" for part in changes + kept) + "."]
    secret = (f"{path} holds the gateway's master key (ANTHROPIC_AUTH_TOKEN) and is readable by you alone "
              "(mode 0600): keep it out of version control")
    ignored = _git_ignored(path.resolve())
    if ignored is False:
        lines.append(f"Warning: {secret}. It is NOT git-ignored: add it to .gitignore "
                     f"(echo {shlex.quote(str(path))} >> .gitignore), or write .claude/settings.local.json instead "
                     "(meant for settings you do not share).")
    else:
        lines.append(f"Note: {secret}.")
    return lines


def overriding_settings(values: dict[str, str], home: Path, project: Path) -> list[str]:
    """Claude Code's settings files apply their `env` over the process environment: name the ones
    that would override what this command sets."""
    notes = []
    for path in (home / ".claude" / "settings.json", project / ".claude" / "settings.json",
                 project / ".claude" / "settings.local.json"):
        try:
            env = json.loads(path.read_text(encoding="utf-8")).get("env") or {}
        except (OSError, ValueError, AttributeError):
            continue
        clash = sorted(k for k in values if isinstance(env, dict) and k in env and str(env[k]) != values[k])
        clash += sorted(k for k in LEFT_OUT if isinstance(env, dict) and k in env)
        if clash:
            notes.append(f"{path} sets {', '.join(clash)} for Claude Code, which wins over this command's "
                         "environment; remove them there")
    return notes


def find_client(program: str, title: str, install: str, path: str | None = None) -> str:
    """The agent CLI's binary on PATH, or one line saying how to install it (claude, codex)."""
    found = shutil.which(program, path=path)
    if not found:
        raise EnvironmentProblem(f"{program}: {title} is not installed (no `{program}` on PATH); install it with "
                                 f"`{install}`")
    return found


def find_claude(path: str | None = None) -> str:
    return find_client("claude", "Claude Code", INSTALL, path)


def check_gateway(url: str, directory: Path, timeout: float = 3.0) -> None:
    """The gateway answers its liveness probe, or one line saying how to start it."""
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url.rstrip('/')}/health/liveliness", timeout=timeout):
            return
    except urllib.error.HTTPError:
        return  # it answers
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise StackFailed(f"the gateway at {url} does not answer ({reason}); start the stack with "
                          f"`llmstack up {directory}`") from None


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
# The shell form of no_proxy() (export_lines).
NO_PROXY_LINES = [f'export NO_PROXY="${{NO_PROXY:+$NO_PROXY,}}{",".join(LOOPBACK_NAMES)}"',
                  'export no_proxy="$NO_PROXY"']


def no_proxy(base: dict[str, str]) -> str:
    """The user's NO_PROXY (or no_proxy) with the loopback names added: Claude Code honours the
    standard proxy variables, NO_PROXY included (code.claude.com/docs/en/network-config), and the
    key must never travel through a proxy to a gateway on this machine."""
    current = base.get("NO_PROXY") or base.get("no_proxy") or ""
    names = [n for n in current.replace(" ", ",").split(",") if n]
    return ",".join(names + [n for n in LOOPBACK_NAMES if n not in names])


def run_environment(env: ClaudeEnv, base: dict[str, str]) -> dict[str, str]:
    """The process environment of a Claude Code run: ours over the user's, except the tuning
    variables the user set; other ways to authenticate left out; no proxy for a loopback gateway."""
    from llmstack.stackdir import is_loopback

    run = {k: v for k, v in base.items() if k not in LEFT_OUT}
    for name, value in env.values.items():
        if name in TUNABLE and base.get(name):
            continue
        run[name] = value
    if is_loopback(env.values.get("ANTHROPIC_BASE_URL", "")):
        run["NO_PROXY"] = run["no_proxy"] = no_proxy(base)
    return run


def launch(binary: str, args: list[str], env: dict[str, str], install: str = INSTALL) -> NoReturn:
    """Replace this process with the agent CLI, Claude Code unless `install` says how to reinstall
    another (its terminal, signals and exit code are its own)."""
    try:
        os.execve(binary, [binary, *args], env)
    except OSError as exc:
        raise EnvironmentProblem(f"{binary}: cannot run it ({exc.strerror or exc}); reinstall it with `{install}`") \
            from None
    raise AssertionError("unreachable")  # pragma: no cover
