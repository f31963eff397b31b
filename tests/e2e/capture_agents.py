"""Re-capture the agent fixtures in tests/fixtures/agents (see its README.md).

    python -m tests.e2e.capture_agents --clients     # the real CLIs against the recorder (no Docker)
    python -m tests.e2e.capture_agents --gateway     # replayed through the real LiteLLM proxy (Docker)
    python -m tests.e2e.capture_agents --templates   # the index of llama.cpp's real chat templates
    python -m tests.e2e.capture_agents --findings    # the template x conversation table (after the above)

--clients runs Claude Code and Codex at the e2e suite's pinned versions (installed into the e2e
cache) against tests/e2e/agent_recorder.py on 127.0.0.1, in a fresh HOME and working directory,
and writes every request they sent, scrubbed of what belongs to this machine and this run (paths,
ids, dates, kernel version). --gateway sends each recorded request through a rendered stack (the
e2e LiteLLM image, the stand-in backend) and writes the chat-completions bodies the backend got.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from tests.agent_fixtures import AGENTS, INDEX, fetch_sdist
from tests.e2e import agent_recorder, codex
from tests.e2e import claude_code as cc

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
HEX64 = re.compile(r"\b[0-9a-f]{64}\b")
DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")
KERNEL = re.compile(r"Linux \d+\.\d+\.\d+[^\s\"\\]*")
PLACE = "/home/user"
ALIAS = "local-model"


class Scrubber:
    """Replaces what belongs to this machine and run with stable placeholders."""

    def __init__(self, workspace: Path):
        self.paths = [(str(workspace / "work"), f"{PLACE}/project"), (str(workspace / "home"), PLACE)]
        self.paths += [(old.replace("/", "-"), new.replace("/", "-")) for old, new in self.paths]
        self.ids: dict[str, str] = {}

    def _id(self, match: re.Match) -> str:
        return self.ids.setdefault(match.group(0), f"00000000-0000-4000-8000-{len(self.ids) + 1:012d}")

    def text(self, value: str) -> str:
        for old, new in self.paths:
            value = value.replace(old, new)
        value = UUID.sub(self._id, value)
        value = HEX64.sub("0" * 64, value)
        value = DATE.sub("2026-01-01", value)
        return KERNEL.sub("Linux 6.1.0", value)

    def __call__(self, value):
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, dict):
            return {k: (0 if k.endswith("_unix_ms") or k == "turn_started_at_unix_ms" else self(v))
                    for k, v in value.items()}
        return value


def _requests(server, scrub: Scrubber) -> list[dict]:
    out = []
    for entry in agent_recorder.RECORDER.take():
        if entry["method"] != "POST":
            continue
        body = entry["body"]
        if isinstance(body, dict) and isinstance(body.get("client_metadata", {}).get("x-codex-turn-metadata"), str):
            meta = json.loads(body["client_metadata"]["x-codex-turn-metadata"])
            body["client_metadata"]["x-codex-turn-metadata"] = json.dumps(scrub(meta))
        out.append(scrub({"path": entry["path"], "headers": entry["headers"], "body": body}))
    return out


def capture_claude(url: str) -> dict:
    binary = cc.install()
    base = {"ANTHROPIC_BASE_URL": url, "ANTHROPIC_AUTH_TOKEN": "sk-recorder",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
    # What `llmstack claude` sets (src/llmstack/claude.py), with one alias for every tier.
    llmstack = {**base, "ANTHROPIC_MODEL": ALIAS, "ANTHROPIC_DEFAULT_OPUS_MODEL": ALIAS,
                "ANTHROPIC_DEFAULT_SONNET_MODEL": ALIAS, "ANTHROPIC_DEFAULT_HAIKU_MODEL": ALIAS,
                "ANTHROPIC_DEFAULT_FABLE_MODEL": ALIAS, "CLAUDE_CODE_DISABLE_1M_CONTEXT": "1",
                "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS": "1", "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",
                "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "16384", "CLAUDE_CODE_MAX_CONTEXT_TOKENS": "65536"}
    scenarios = {
        # As a new user points it: base URL and key only.
        "plain": [(base, cc.print_args("Say hello."))],
        # Through `llmstack claude`: thinking, a Bash call, its result.
        "bash": [(llmstack, cc.print_args(f"{agent_recorder.THINK}: then {agent_recorder.RUN_BASH} please.",
                                          "--allowedTools", "Bash(echo:*)"))],
        # Two runs of one session, the second in plan mode: system messages inside the history.
        "plan_continue": [(llmstack, ["-p", "Say hello.", "--output-format", "json"]),
                          (llmstack, ["-p", "Now plan a change.", "--output-format", "json", "--continue",
                                      "--permission-mode", "plan"])],
    }
    conversations = {}
    for name, runs in scenarios.items():
        agent_recorder.RECORDER.clear()
        with tempfile.TemporaryDirectory(prefix="capture-cc-") as tmp:
            workspace = Path(tmp)
            (workspace / "home").mkdir()
            (workspace / "work").mkdir()
            for env, args in runs:
                done = cc.run([str(binary), *args], cc.environment(binary, workspace / "home", **env),
                              workspace / "work", timeout=180)
                if done.code != 0:
                    raise RuntimeError(f"claude ({name}) failed: {done}")
            conversations[name] = _requests(None, Scrubber(workspace))
    return {"client": "claude-code", "version": cc.VERSION, "conversations": conversations}


def capture_codex(url: str) -> dict:
    binary = codex.install()
    provider = codex.provider_args(f"{url}/v1", ALIAS)
    scenarios = {
        # As `llmstack codex` runs it: function tools only.
        "plain": (provider + list(codex.FUNCTION_TOOLS_ONLY), "Say hello."),
        "shell": (provider + list(codex.FUNCTION_TOOLS_ONLY),
                  f"{agent_recorder.THINK}: then {agent_recorder.RUN_BASH} please."),
        # As a hand-configured Codex runs it: its default tools (a namespace and web_search too).
        "default_tools": (provider, "Say hello."),
        # A model name Codex knows (its catalogue gives it the freeform apply_patch tool).
        "custom_tool": (codex.provider_args(f"{url}/v1", "gpt-5.5") + ["--sandbox", "workspace-write"],
                        f"{agent_recorder.RUN_PATCH} please."),
    }
    conversations = {}
    for name, (args, prompt) in scenarios.items():
        agent_recorder.RECORDER.clear()
        with tempfile.TemporaryDirectory(prefix="capture-codex-") as tmp:
            workspace = Path(tmp)
            done = codex.run(binary, workspace, prompt, *args, key="sk-recorder")
            if done.code != 0:
                raise RuntimeError(f"codex ({name}) failed: {done}")
            conversations[name] = _requests(None, Scrubber(workspace))
    return {"client": "codex", "version": codex.VERSION, "conversations": conversations}


def write(path: Path, data: dict, how: str) -> None:
    data = {"captured": how, **data}
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)", file=sys.stderr)


def clients() -> None:
    server = agent_recorder.serve()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        how = ("real CLI against tests/e2e/agent_recorder.py, python -m tests.e2e.capture_agents --clients "
               f"on {time.strftime('%Y-%m')}")
        claude = capture_claude(url)
        write(AGENTS / f"claude-code-{claude['version']}.json", claude, how)
        codex_data = capture_codex(url)
        write(AGENTS / f"codex-{codex_data['version']}.json", codex_data, how)
    finally:
        server.shutdown()


# ---- through the gateway -----------------------------------------------------------------------

def gateway() -> None:
    """Replay every recorded request through a rendered stack; keep what the backend received."""
    import httpx
    import yaml

    from llmstack.gateway import pinned_version
    from tests.conftest import Cli
    from tests.e2e import images
    from tests.e2e.conftest import compose_down, free_port

    cli = Cli()
    recorded = {client: json.loads(next(AGENTS.glob(f"{client}-*.json")).read_text())["conversations"]
                for client in ("claude-code", "codex")}
    out: dict[str, list] = {}
    with tempfile.TemporaryDirectory(prefix="capture-gw-") as tmp:
        root = Path(tmp)
        model = root / "models" / "local-model"
        model.mkdir(parents=True)
        (model / "config.json").write_text("{}")
        port, backend = free_port(), free_port()
        name = f"llmstack-e2e-capture-{int(time.time()) % 100000}"
        stack = root / name
        result = cli("render", "--model", str(model), "--backend", "vllm", "--cpu", "--name", name,
                     "--litellm-alias", ALIAS, "--output", str(stack), "--backend-image", images.fake_backend_image(),
                     "--litellm-image", images.litellm_image(), "--litellm-port", str(port), "--port", str(backend),
                     "--publish-backend", "--litellm-workers", "1", "--max-model-len", "131072",
                     "--extra-arg=--fake-startup-seconds=0")
        if result.exit_code != 0:
            raise RuntimeError(result.stderr)
        config = yaml.safe_load((stack / "litellm-config.yaml").read_text())
        # /v1/responses through LiteLLM's bridge to chat completions (what the integration renders;
        # without it hosted_vllm/ sends Responses requests to the backend's own /v1/responses).
        for entry in config["model_list"]:
            entry["litellm_params"]["use_chat_completions_api"] = True
        (stack / "litellm-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        try:
            up = cli("up", str(stack), "--timeout", "300")
            if up.exit_code != 0:
                raise RuntimeError(up.stdout + up.stderr)
            key = (stack / ".env").read_text().split("LITELLM_MASTER_KEY=", 1)[1].strip()
            gw, be = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{backend}"
            for client, convs in recorded.items():
                for conv, requests in convs.items():
                    bodies = []
                    for request in requests:
                        httpx.delete(f"{be}/_requests", timeout=10)
                        body = {**request["body"], "model": ALIAS}
                        path = request["path"].split("?")[0]
                        headers = {"Authorization": f"Bearer {key}", **request.get("headers", {})}
                        reply = httpx.post(f"{gw}{path}", json=body, headers=headers, timeout=120)
                        reply.read()
                        got = [r["body"] for r in httpx.get(f"{be}/_requests", timeout=10).json()
                               if r["path"] == "/v1/chat/completions"]
                        bodies.append({"path": path, "status": reply.status_code,
                                       "forwarded": got[-1] if got else None})
                    out[f"{client}/{conv}"] = bodies
        finally:
            compose_down(stack)
    served = config["model_list"][0]["litellm_params"]["model"]
    how = (f"recorded requests replayed through LiteLLM {pinned_version()} (tests/e2e/images.py) with route "
           f"{served.split('/')[0]}/ and use_chat_completions_api (the Responses bridge) to "
           "tests/e2e/fake_backend.py, python -m tests.e2e.capture_agents --gateway")
    write(AGENTS / f"forwarded-litellm-{pinned_version()}.json", {"conversations": out}, how)


# ---- the template index ------------------------------------------------------------------------

FAMILIES = (  # file-name marker -> family (the names in llmstack's parser tables where they exist)
    ("qwen3.5", "qwen3_5"), ("qwen3-coder", "qwen3_coder"), ("qwen3", "qwen3"), ("qwq", "qwq"),
    ("qwen2.5", "qwen2_5"), ("deepseek-r1-distill-llama", "deepseek_r1_distill"),
    ("deepseek-r1-distill-qwen", "deepseek_r1_distill"), ("deepseek-r1", "deepseek_r1"),
    ("deepseek-v3.1", "deepseek_v31"), ("deepseek-v3.2", "deepseek_v32"), ("deepseek-v4", "deepseek_v4"),
    ("llama-3.1", "llama3"), ("llama-3.2", "llama3"), ("llama-3.3", "llama3"), ("hermes", "hermes"),
    ("firefunction", "llama3"), ("functionary", "functionary"), ("ministral", "mistral"), ("devstral", "mistral"),
    ("mistral", "mistral"), ("glm-4.7", "glm47"), ("glm-4.6", "glm45"), ("gpt-oss", "gpt_oss"),
    ("gemma-4", "gemma4"), ("gemma-2", "gemma2"), ("kimi-k3", "kimi_k3"), ("kimi-k2", "kimi_k2"),
    ("minimax-m3", "minimax_m3"), ("minimax-m2", "minimax_m2"), ("minimax-m1", "minimax_m1"),
    ("granite-4", "granite4"), ("granite-3", "granite"), ("command-r", "cohere"), ("cohere", "cohere"),
    ("nemotron", "nemotron"), ("phi-3", "phi3"), ("smollm", "smollm3"), ("lfm", "lfm2"), ("seed-oss", "seed_oss"),
    ("stepfun", "step3"), ("apertus", "apertus"), ("gigachat", "gigachat"), ("bielik", "bielik"),
    ("apriel", "apriel"), ("mimo", "mimo"), ("reka", "reka"), ("spark", "spark"), ("hy3", "hunyuan"),
    ("ling", "ling"), ("laguna", "laguna"), ("minicpm", "minicpm"), ("solar", "solar"), ("rwkv", "rwkv"),
    ("muse", "muse"),
)


def family_of(name: str) -> str:
    lower = name.lower()
    return next((family for marker, family in FAMILIES if marker in lower), "other")


def templates(version: str) -> None:
    sdist = fetch_sdist(version)
    prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/models/templates"
    entries = []
    with tarfile.open(sdist) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if member.name.startswith(prefix + "/") and member.name.endswith(".jinja"):
                raw = tar.extractfile(member).read()  # type: ignore[union-attr]
                file = member.name[len(prefix) + 1:]
                entries.append({"file": file, "family": family_of(file), "sha256": hashlib.sha256(raw).hexdigest()})
    data = {"source": "llama.cpp's models/templates, as vendored verbatim in PyPI's llama-cpp-python sdist "
                      "(never committed here: tests read them from the sdist in the e2e cache)",
            "sdist": {"name": "llama-cpp-python", "version": version, "file": sdist.name,
                      "sha256": hashlib.sha256(sdist.read_bytes()).hexdigest(), "templates_dir": prefix},
            "templates": entries}
    INDEX.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {INDEX} ({len(entries)} templates)", file=sys.stderr)


def findings() -> None:
    """The table tests/test_chat_template.py checks: every real template x every shape and recorded
    conversation, before and after the hook; the (template, engine) pairs the hook cannot help."""
    from llmstack.chat_template import SHAPES
    from tests.agent_fixtures import FINDINGS, compute_findings

    table = compute_findings()
    unfixable = {}
    for file, engines in table.items():
        for engine, found in engines.items():
            if found["notes"] or "user_only" in found["refused"] or any(not SHAPES[s].fix for s in found["refused"]):
                reasons = [f"{s}: {e}" for s, e in found["refused"].items() if not SHAPES[s].fix] + found["notes"]
                unfixable[f"{file} {engine}"] = reasons[0] if reasons else "refuses plain chat"
    data = {"what": "tests/test_chat_template.py: for each real chat template (templates.json) and engine, the "
                    "synthetic shapes it refuses (llmstack.chat_template.SHAPES), the recorded conversations "
                    "it refuses as they are and after the gateway hook with the switches its findings call for",
            "templates": table, "unfixable": unfixable}
    FINDINGS.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {FINDINGS}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", action="store_true")
    parser.add_argument("--gateway", action="store_true")
    parser.add_argument("--templates", action="store_true")
    parser.add_argument("--findings", action="store_true")
    parser.add_argument("--llama-cpp-python", default=None, help="sdist version for --templates")
    args = parser.parse_args()
    AGENTS.mkdir(parents=True, exist_ok=True)
    if args.templates:
        from tests.e2e.images import LLAMA_CPP_PYTHON

        templates(args.llama_cpp_python or LLAMA_CPP_PYTHON)
    if args.clients:
        clients()
    if args.gateway:
        gateway()
    if args.findings:
        findings()
    if not (args.templates or args.clients or args.gateway or args.findings):
        parser.print_help()


if __name__ == "__main__":
    main()
