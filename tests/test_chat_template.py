"""The chat-template check (llmstack.chat_template): the sandbox, its bounds, the findings, and the
table of every real template (llama.cpp's models/templates, read from the llama-cpp-python sdist)
against the synthetic shapes and the recorded Claude Code and Codex conversations, before and
after the gateway hook (tests/fixtures/agents/findings.json; regenerate with
`python -m tests.e2e.capture_agents --findings`)."""

from __future__ import annotations

import json

import pytest

from llmstack import chat_template as ct
from tests.agent_fixtures import FINDINGS, REQUIRE, compute_findings, index, real_templates
from tests.conftest import missing

STRICT = """\
{%- for message in messages %}
{%- if message.role == 'system' and not loop.first %}{{ raise_exception('System message must be at the beginning.') }}{% endif %}
{%- if loop.index0 > 0 and message.role in ('user', 'assistant') and message.role == messages[loop.index0 - 1].role %}{{ raise_exception('Roles must alternate.') }}{% endif %}
<|{{ message.role }}|>{{ message.content }}
{%- endfor %}
{%- if add_generation_prompt %}<|assistant|>{% endif %}"""


def test_a_strict_template_refuses_exactly_the_shapes_it_raises_on():
    found = ct.check_template(STRICT)
    assert found.complete and found.sha256 == ct.template_sha256(STRICT)
    assert set(found.checked) == set(ct.SHAPES)
    refused = {r.shape: r.error for r in found.refused}
    assert refused["mid_system"] == "System message must be at the beginning."
    assert refused["trailing_system"] == "System message must be at the beginning."
    assert refused["consecutive_user"] == "Roles must alternate."
    assert "baseline" not in refused and "tool_round_trip" not in refused
    assert found.adaptations == (ct.FOLD_SYSTEM, ct.MERGE_TURNS)


def test_findings_round_trip_through_the_manifest():
    found = ct.check_template(STRICT)
    data = json.loads(json.dumps(found.to_manifest()))
    assert data["adaptations"] == ["fold_system", "merge_turns"]
    assert ct.TemplateFindings.from_manifest(data) == found


def test_the_template_environment_is_transformers():
    text = ("{{ bos_token }}{{ strftime_now('%Y') | length }}{{ {'a': '<b>'} | tojson }}"
            "{{ [1, 2] | tojson(indent=2) }}{% set ns = namespace(n=1) %}{% set ns.n = ns.n + 1 %}{{ ns.n }}"
            "{{ dict(a=1)['a'] }}{% for m in messages %}{% if loop.first %}{% continue %}{% endif %}{% endfor %}"
            "{% generation %}G{% endgeneration %}")
    out = ct.render(text, [{"role": "user", "content": "x"}], bos_token="<s>")
    assert out == '<s>4{"a": "<b>"}[\n  1,\n  2\n]2' + "1G"
    assert ct.render("{{ messages[0].thinking }}|{{ messages[0].reasoning_content }}",
                     [{"role": "assistant", "content": "", "reasoning": "why"}]) == "why|why"
    args = ct.render("{{ messages[0].tool_calls[0].function.arguments.command }}",
                     [{"role": "assistant", "tool_calls": [{"function": {"name": "Bash",
                                                                          "arguments": '{"command": "ls"}'}}]}])
    assert args == "ls"  # arguments as objects, as vLLM hands them over


def test_engines_differ_where_llama_cpp_differs():
    appends = "{% set xs = [] %}{{ xs.append(1) or '' }}{{ xs | length }}"
    with pytest.raises(Exception, match="unsafe"):
        ct.render(appends, [])
    assert ct.render(appends, [], engine="llama.cpp") == "1"
    roles = "{% for m in messages %}{{ m.role }}{% endfor %}"
    assert ct.render(roles, [{"role": "developer", "content": "x"}]) == "developer"
    assert ct.render(roles, [{"role": "developer", "content": "x"}], engine="llama.cpp") == "system"
    assert ct.render(roles + "<|channel|>", [{"role": "developer", "content": "x"}],
                     engine="llama.cpp").startswith("developer")


@pytest.mark.parametrize("text, note", [
    # 10^10 iterations: stopped by the deadline
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "did not finish in time"),
    # doubling a string: stopped by the child's memory cap or the output bound
    ("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
     "stopped"),
    ("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "rendered more than"),
])
def test_a_hostile_template_ends_with_a_note(text, note):
    found = ct.check_template(text, seconds=30)
    assert found.notes and note in found.notes[0], found
    assert not found.refused


def test_a_template_cut_off_by_the_parent_deadline_gives_a_note():
    text = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    found = ct.check_template(text, seconds=0.5)
    assert found.checked == () and "did not finish within 0.5s" in found.notes[0]


def test_the_sandbox_refuses_what_is_not_template_work():
    found = ct.check_template("{{ ''.__class__.__mro__[1].__subclasses__() }}{{ 'x' * 10000000 }}")
    assert found.refuses("baseline") and "SecurityError" in dict((r.shape, r.error) for r in found.refused)["baseline"]
    broken = ct.check_template("{% for %}")
    assert broken.checked == () and broken.notes[0].startswith("the template does not compile")


# ---- real templates --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def templates() -> dict[str, str]:
    try:
        return real_templates()
    except Exception as exc:  # noqa: BLE001 - no sdist, no network: say so
        missing(f"the llama-cpp-python sdist with llama.cpp's templates is not available ({exc})", REQUIRE)


def test_the_index_covers_the_families_agents_meet(templates):
    families = {entry["family"] for entry in index()["templates"]}
    for family in ("qwen2_5", "qwen3", "qwen3_5", "qwen3_coder", "llama3", "mistral", "glm45", "glm47",
                   "deepseek_r1", "deepseek_v31", "deepseek_v32", "deepseek_v4", "gpt_oss", "gemma2", "gemma4",
                   "kimi_k2", "minimax_m2", "granite4", "nemotron", "seed_oss"):
        assert family in families, family
    assert len(templates) == len(index()["templates"])


def test_every_template_against_every_shape_and_recorded_conversation(templates):
    """The committed table is what the templates do today, and wherever a template refuses only
    shapes the hook can adapt, every recorded conversation passes after the hook."""
    table = compute_findings(templates)
    expected = json.loads(FINDINGS.read_text())["templates"]
    assert table == expected, "findings changed: regenerate with python -m tests.e2e.capture_agents --findings"
    unfixable = json.loads(FINDINGS.read_text())["unfixable"]
    for file, engines in table.items():
        for engine, found in engines.items():
            fixable = not found["notes"] and all(ct.SHAPES[s].fix for s in found["refused"]) \
                and "user_only" not in found["refused"]
            if fixable:
                assert found["adapted"] == {}, (file, engine, found["adapted"])
            else:
                assert f"{file} {engine}" in unfixable, (file, engine, found["refused"])


def test_qwen35_refuses_claude_codes_system_messages_and_the_hook_fixes_them(templates):
    found = json.loads(FINDINGS.read_text())["templates"]["Qwen3.5-4B.jinja"]["transformers"]
    assert found["refused"]["mid_system"] == "System message must be at the beginning."
    assert found["recorded"]["native/claude-code/plan_continue"] == "System message must be at the beginning."
    assert found["adaptations"] == ["fold_system"]
    assert found["adapted"] == {}
