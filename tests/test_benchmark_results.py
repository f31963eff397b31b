"""RESULTS.md bookkeeping of the benchmark runner: `--only` replaces the parts it measured and
keeps the others' last figures (no timing here; the runner itself is exercised by the e2e suite)."""

from __future__ import annotations

from benchmarks.__main__ import document, sections_of
from benchmarks.gateway import Load, compare

INFO = {"date": "2026-01-01 00:00 UTC", "host": "test"}


def test_sections_round_trip_and_only_replaces_what_was_measured():
    first = document(INFO, {"CLI wall time": "cli v1", "Time to ready": "ready v1",
                            "Gateway overhead": "gateway v1"}, "## What was tuned\n\nnotes\n")
    previous = sections_of(first)
    assert previous == {"CLI wall time": "cli v1", "Time to ready": "ready v1", "Gateway overhead": "gateway v1"}

    second = document(INFO, {**previous, "CLI wall time": "cli v2"}, "## What was tuned\n\nnotes\n")
    assert sections_of(second) == {**previous, "CLI wall time": "cli v2"}
    assert second.index("## CLI wall time") < second.index("## Time to ready") < second.index("## What was tuned")
    assert second.count("notes") == 1


def test_compare_counts_wins_and_signs():
    def load(rps):
        return Load(rps=rps, p50_ms=1.0, p95_ms=2.0, chunks_per_s=0.0, errors=0)

    line = compare({(1, False): load(100), (16, True): load(50)}, {(1, False): load(90), (16, True): load(75)})
    assert "**1 of 2**" in line
    assert "plain x1 90 vs 100 (-10%)" in line
    assert "streamed x16 75 vs 50 (+50%)" in line


def test_write_section_replaces_only_its_own_section(tmp_path):
    from benchmarks.common import write_section

    results = tmp_path / "RESULTS.md"
    results.write_text("# r\n\n## A\n\na v1\n\n## Someone else's\n\nkept\n\n## What was tuned\n\nnotes\n")
    write_section(results, "A", "a v2")
    write_section(results, "Gateway levers", "levers v1")
    text = results.read_text()
    assert "a v2" in text and "a v1" not in text and "kept" in text and text.count("notes") == 1
    assert text.index("## Someone else's") < text.index("## Gateway levers") < text.index("## What was tuned")
    write_section(results, "Gateway levers", "levers v2")
    assert "levers v1" not in results.read_text() and results.read_text().count("## Gateway levers") == 1


def test_lever_configs_change_only_their_lever():
    from benchmarks import levers

    base = {"model_list": [{"model_name": "local-model", "litellm_params": {"model": "hosted_vllm/m",
                                                                           "api_base": "http://e:8000/v1"},
                            "model_info": {"supports_vision": False, **levers.FREE}}],
            "litellm_settings": {"drop_params": True}, "general_settings": {"master_key": "k"}}
    priced = levers.config_for(base, levers.PRICED)
    assert priced["model_list"][0]["model_info"] == {"supports_vision": False}
    assert base["model_list"][0]["model_info"]["input_cost_per_token"] == 0  # the base is not changed
    through = levers.config_for(base, levers.Variant("p", passthrough=True))
    assert through["general_settings"]["pass_through_endpoints"] == [
        {"path": levers.PASSTHROUGH, "target": "http://e:8000", "include_subpath": True, "auth": True}]
    logged = levers.config_for(base, levers.Variant("l", settings={"litellm_settings": {"x": 1}}))
    assert logged["litellm_settings"] == {"drop_params": True, "x": 1}


def test_stream_end_counts_text_events_of_both_apis():
    from benchmarks.stream_end import is_token

    assert is_token({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "a"}})
    assert is_token({"choices": [{"delta": {"content": "a"}}]})
    assert is_token({"choices": [{"delta": {"reasoning": "hm"}}]})
    assert not is_token({"choices": [{"delta": {}, "finish_reason": "length"}]})
    assert not is_token({"choices": [], "usage": {"completion_tokens": 3}})
    assert not is_token({"type": "message_delta", "delta": {"stop_reason": "max_tokens"}})


def test_proxy_requirements_of_a_release_whose_companions_are_not_on_the_index(tmp_path):
    """levers.litellm_venv's fallback: the `proxy` extra as the wheel names it, the companions'
    exact pins dropped, `litellm-proxy` left out, other extras and markers kept as written."""
    import zipfile

    from benchmarks import levers

    metadata = "\n".join([
        "Metadata-Version: 2.4", "Name: litellm", "Version: 9.9.9",
        "Requires-Dist: httpx>=0.23.0",
        "Requires-Dist: prisma>=0.11.0,<1.0 ; extra == 'extra-proxy'",
        "Requires-Dist: litellm-proxy==9.9.9 ; extra == 'proxy'",
        "Requires-Dist: uvicorn>=0.33.0,<1.0 ; extra == 'proxy'",
        "Requires-Dist: uvloop>=0.22.1,<1.0 ; sys_platform != 'win32' and extra == 'proxy'",
        "Requires-Dist: litellm-proxy-extras==0.4.114.post1 ; extra == 'proxy'",
        "Requires-Dist: litellm-enterprise==0.1.83.post1 ; extra == 'proxy'",
        "Requires-Dist: grpcio==1.84.1 ; extra == 'proxy-runtime'",
    ])
    wheel = tmp_path / "litellm-9.9.9-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("litellm-9.9.9.dist-info/METADATA", metadata)
    assert levers.proxy_requirements(wheel) == [
        "uvicorn>=0.33.0,<1.0", "uvloop>=0.22.1,<1.0 ; sys_platform != 'win32'",
        "litellm-proxy-extras", "litellm-enterprise"]
