"""docs/agents.md's per-template table is what findings.json says (tests/agent_fixtures.findings_table)."""

from __future__ import annotations

from tests.agent_fixtures import DOC, doc_block


def test_the_per_template_table_is_generated_from_the_findings():
    assert doc_block() in DOC.read_text(), "docs/agents.md is stale: regenerate with python -m tests.agent_fixtures"
