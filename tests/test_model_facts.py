"""model.facts: the manifest form of ModelFacts (facts_to_dict / facts_from_dict)."""

from __future__ import annotations

import yaml

from llmstack.model import ModelFacts, facts_from_dict, facts_to_dict, inspect_path
from tests.model_helpers import FAMILIES, GGUF_DIR


def _all_fixture_facts() -> list[ModelFacts]:
    facts = [inspect_path(FAMILIES / d) for d in sorted(p.name for p in FAMILIES.iterdir())]
    facts.append(inspect_path(GGUF_DIR / "gemma-3-4b-it"))
    facts.append(inspect_path(GGUF_DIR / "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf"))
    return facts


def test_facts_dict_round_trip_is_yaml_safe_and_deterministic() -> None:
    for facts in _all_fixture_facts():
        data = facts_to_dict(facts)
        assert facts_from_dict(data) == facts
        dumped = yaml.safe_dump(data, sort_keys=False)
        assert yaml.safe_load(dumped) == data
        assert facts_from_dict(yaml.safe_load(dumped)) == facts
        assert yaml.safe_dump(facts_to_dict(facts_from_dict(data)), sort_keys=False) == dumped
        assert list(data) == [f for f in ModelFacts.__dataclass_fields__]
        assert list(data["origins"]) == sorted(data["origins"])


def test_facts_from_dict_ignores_unknown_keys_and_defaults_missing_ones() -> None:
    facts = facts_from_dict({"format": "gguf", "name": "x", "future_field": 1})
    assert facts == ModelFacts(format="gguf", name="x")
