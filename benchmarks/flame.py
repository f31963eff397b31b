"""Where a gateway's CPU goes, from py-spy's collapsed stacks
(`py-spy record --format raw --gil --full-filenames`).

Two views of the same samples:

- **stage**: what the gateway was doing, found by walking each stack from the innermost frame
  outwards to the first frame a rule below names (so pydantic work inside the chunk wrapper
  counts as the chunk wrapper, pydantic work inside cost calculation as cost calculation);
- **library**: whose code was running (the innermost frame's package: pydantic, json, h11...).

With `--gil` every sample is a moment some thread held the GIL, so samples / rate is Python CPU
time; divided by the requests (or tokens) served while recording, it is a cost per request.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

# (stage, patterns matched against "function (file:line)"), first listed wins when one frame
# matches several; the innermost matching frame of a stack decides its stage.
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("cost calculation", (r"cost_calculator\.py", r"zero_cost_diagnostic\.py", r"_response_cost_calculator",
                          r"completion_cost", r"_stamp_streaming_usage_cost", r"_record_zero_cost_diagnostic",
                          r"response_cost_calculator")),
    ("end-of-stream assembly (stream_chunk_builder, usage)", (r"stream_chunk_builder", r"streaming_chunk_builder_utils",
                                                               r"calculate_total_usage")),
    ("logging and callbacks (success/failure handlers, spend, hooks' bookkeeping)", (
        r"litellm_logging\.py", r"callback_utils\.py", r"/integrations/", r"_PROXY_track_cost_callback",
        r"proxy_track_cost_callback", r"spend_tracking", r"update_spend", r"dispatch_success_handlers",
        r"_service_logger", r"model_max_budget", r"parallel_request_limiter", r"enterprise",
        r"logging_callback_manager", r"_logging\.py", r"logging/__init__\.py")),
    ("Anthropic <-> OpenAI translation", (r"experimental_pass_through", r"anthropic_messages",
                                          r"AnthropicStreamWrapper", r"anthropic/.*transformation",
                                          r"anthropic_interface")),
    ("chunk wrapper (CustomStreamWrapper, chunk parser)", (r"streaming_handler\.py", r"ModelResponseIterator",
                                                            r"chunk_parser", r"gpt_transformation\.py",
                                                            r"CustomStreamWrapper")),
    ("proxy streaming hooks (per-chunk post-call hooks)", (r"async_post_call_streaming_hook",
                                                           r"async_post_call_streaming_iterator_hook",
                                                           r"_UpstreamStreamBoundary", r"proxy/hooks/")),
    ("SSE serialization (chunk -> JSON -> bytes)", (r"_fast_serialize", r"safe_dumps", r"model_dump_json",
                                                    r"async_data_generator", r"_iter_with_keepalive",
                                                    r"combined_generator", r"return_sse")),
    ("HTTP client to the backend (aiohttp/httpx)", (r"aiohttp", r"httpx", r"httpcore", r"http_handler",
                                                    r"aiohttp_transport", r"llm_http_handler", r"yarl",
                                                    r"multidict")),
    ("auth (master key check)", (r"user_api_key_auth", r"auth_checks", r"proxy/auth/")),
    ("request pre-processing (body, metadata, pre-call hooks)", (
        r"add_litellm_data_to_request", r"_read_request_body", r"pre_call_hook", r"common_processing_pre_call",
        r"litellm_pre_call_utils", r"http_parsing_utils", r"base_process_llm_request")),
    ("routing (router: deployment choice, retries, fallbacks)", (r"router\.py", r"router_utils",
                                                                 r"router_strategy")),
    ("completion call setup (litellm.acompletion, params)", (r"litellm/main\.py", r"get_optional_params",
                                                             r"get_llm_provider", r"litellm/utils\.py")),
    ("HTTP server (uvicorn, h11/httptools, starlette, fastapi, middleware)", (
        r"uvicorn", r"h11", r"httptools", r"starlette", r"fastapi", r"middleware", r"granian")),
    ("event loop and threads (asyncio, anyio, executor)", (r"asyncio", r"anyio", r"threading\.py",
                                                           r"concurrent/", r"uvloop", r"queue\.py")),
]
LIBRARIES: list[tuple[str, str]] = [
    ("pydantic", r"pydantic"), ("json/orjson", r"(^|/)json/|orjson|jiter|safe_json"),
    ("uvicorn/h11/httptools", r"uvicorn|h11|httptools"), ("starlette/fastapi", r"starlette|fastapi"),
    ("aiohttp/httpx", r"aiohttp|httpx|httpcore|yarl|multidict"), ("asyncio/anyio/uvloop", r"asyncio|anyio|uvloop"),
    ("threading/queue", r"threading|concurrent/|queue\.py"), ("logging", r"(^|/)logging/"),
    ("copy/deepcopy", r"(^|/)copy\.py"), ("typing/enum/abc", r"typing|enum\.py|<frozen abc>"),
    ("re", r"(^|/)re/"), ("import machinery", r"importlib"), ("litellm (own code)", r"litellm|\.py"),
]
_FILE = re.compile(r"\(([^()]*):\d+\)$")


def read(path: Path) -> list[tuple[list[str], int]]:
    """(frames root..leaf, samples) per distinct stack; thread-name roots are dropped."""
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f for f in stack.split(";") if f and _FILE.search(f)]
        stacks.append((frames, int(count)))
    return stacks


def stage_of(frames: list[str]) -> str:
    compiled = _compiled_stages()
    for frame in reversed(frames):
        for name, pattern in compiled:
            if pattern.search(frame):
                return name
    return "other" if frames else "native / no Python frame"


def library_of(frames: list[str]) -> str:
    if not frames:
        return "native / no Python frame"
    match = _FILE.search(frames[-1])
    where = match.group(1) if match else frames[-1]
    for name, pattern in LIBRARIES:
        if re.search(pattern, where):
            return name
    return "other"


_CACHE: list[tuple[str, re.Pattern]] = []


def _compiled_stages() -> list[tuple[str, re.Pattern]]:
    if not _CACHE:
        _CACHE.extend((name, re.compile("|".join(patterns))) for name, patterns in STAGES)
    return _CACHE


def breakdown(stacks: Iterable[tuple[list[str], int]]) -> tuple[Counter, Counter, int]:
    stages: Counter = Counter()
    libraries: Counter = Counter()
    total = 0
    for frames, count in stacks:
        stages[stage_of(frames)] += count
        libraries[library_of(frames)] += count
        total += count
    return stages, libraries, total


def hottest(stacks: Iterable[tuple[list[str], int]], top: int = 15) -> list[tuple[str, int]]:
    """Functions by inclusive samples (a function counted once per stack)."""
    seen: Counter = Counter()
    for frames, count in stacks:
        for frame in {f.split(" (")[0] + " (" + _FILE.search(f).group(1).split("site-packages/")[-1] + ")"
                      for f in frames if _FILE.search(f)}:
            seen[frame] += count
    return seen.most_common(top)
