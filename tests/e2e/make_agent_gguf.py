"""Write a tiny GGUF model that behaves like an agent model, on cue, for the Claude Code tests.

Same construction as make_tiny_gguf (zero attention and feed-forward weights, so the next token
depends on the last token alone), but the next-token table is a set of scripted chains instead
of a tool-call machine, and the chat template picks the chain by ending the generation prompt
with a cue token (the prompt's last token is all the model sees):

- `<|say|>` (the default): `<think>` THINKING `</think>` ANSWER end. llama.cpp recognises the
  template's `<think>` markers (it renders `reasoning_content` between them) and returns the text
  between them as reasoning: a thinking model's answer, thinking block included.
- `<|bash|>` when a user message contains RUN_BASH and there is no tool result yet:
  `<tool_call>` BASH_CALL `\\n` `</tool_call>` end, i.e. a call to the `Bash` tool running
  `echo TOOL_OUTPUT` (one token, so the tool-call grammar accepts it whole); `<|exec|>` instead
  when the tools include Codex's `exec_command`: the same command as `{"cmd": ...}`.
- `<|done|>` when a tool message holds TOOL_OUTPUT: TOOL_SEEN end. The template only chooses this
  when the command's output reached the model as a `tool` message, so the answer TOOL_SEEN
  proves the round trip.
- `<|long|>` when a user message contains LONG: ` tick tock tick tock ...` until max_tokens (for
  streaming benchmarks).

Prompt tokens are bytes (no real vocabulary), so keep prompts small: Claude Code runs against
this model use `--system-prompt` and `--tools Bash`.

    python -m tests.e2e.make_agent_gguf OUT.gguf
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from tests.e2e.make_tiny_gguf import BYTE, CONTROL, NORMAL, UNKNOWN, write_model

RUN_BASH = "llmstack-run-bash"
TOOL_OUTPUT = "llmstack-tool-ok"
THINKING = "llmstack-thinking"
ANSWER = "llmstack-hello"
TOOL_SEEN = "llmstack-tool-result-seen"
LONG = "llmstack-long"
BASH_COMMAND = f"echo {TOOL_OUTPUT}"
BASH_CALL = "\n" + json.dumps({"name": "Bash", "arguments": {"command": BASH_COMMAND}})
# Codex's shell tool (0.171.0): exec_command {"cmd": ...}. Its chain starts with a token of its own
# ("<tool_call>" and a newline): the next token depends on the last one alone, so the two calls
# cannot share "<tool_call>".
EXEC_OPEN = "<tool_call>\n"
EXEC_CALL = json.dumps({"name": "exec_command", "arguments": {"cmd": BASH_COMMAND}})

# ChatML with tools in the system prompt (Hermes style) and Qwen3-style <think> rendering of
# reasoning_content; the generation prompt ends with the cue.
CHAT_TEMPLATE = """\
{%- set ns = namespace(bash=false, done=false, long=false, exec=false) %}
{%- for tool in tools or [] %}{%- if (tool.function or tool).name == 'exec_command' %}{%- set ns.exec = true %}{%- endif %}{%- endfor %}
{%- for message in messages %}
{%- if message.role == 'user' and message.content is string and '""" + LONG + """' in message.content %}{%- set ns.long = true %}{%- endif %}
{%- if message.role == 'user' and message.content is string and '""" + RUN_BASH + """' in message.content %}{%- set ns.bash = true %}{%- endif %}
{%- if message.role == 'tool' and message.content is string and '""" + TOOL_OUTPUT + """' in message.content %}{%- set ns.done = true %}{%- endif %}
{%- endfor %}
{%- if tools %}
{{- '<|im_start|>system\\n' }}
{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}{%- else %}{{- 'You are a helpful assistant.' }}{%- endif %}
{{- '\\n\\n# Tools\\n<tools>' }}
{%- for tool in tools %}{{- '\\n' }}{{- tool | tojson }}{%- endfor %}
{{- '\\n</tools>\\nCall a tool as:\\n<tool_call>\\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\\n</tool_call><|im_end|>\\n' }}
{%- elif messages[0]['role'] == 'system' %}
{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
{%- if message.role == 'user' or (message.role == 'system' and not loop.first) %}
{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}
{%- elif message.role == 'assistant' %}
{{- '<|im_start|>assistant\\n' }}
{%- if message.reasoning_content %}{{- '<think>\\n' + message.reasoning_content + '\\n</think>\\n\\n' }}{%- endif %}
{%- if message.content %}{{- message.content }}{%- endif %}
{%- for tool_call in message.tool_calls or [] %}
{%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}
{{- '\\n<tool_call>\\n{\"name\": \"' }}{{- tool_call.name }}{{- '\", \"arguments\": ' }}
{%- if tool_call.arguments is string %}{{- tool_call.arguments }}{%- else %}{{- tool_call.arguments | tojson }}{%- endif %}
{{- '}\\n</tool_call>' }}
{%- endfor %}
{{- '<|im_end|>\\n' }}
{%- elif message.role == 'tool' %}
{%- if loop.index0 == 0 or messages[loop.index0 - 1].role != 'tool' %}{{- '<|im_start|>user' }}{%- endif %}
{{- '\\n<tool_response>\\n' }}{{- message.content }}{{- '\\n</tool_response>' }}
{%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}{{- '<|im_end|>\\n' }}{%- endif %}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<|im_start|>assistant\\n' }}
{%- if ns.done %}{{- '<|done|>' }}{%- elif ns.bash and ns.exec %}{{- '<|exec|>' }}{%- elif ns.bash %}{{- '<|bash|>' }}{%- elif ns.long %}{{- '<|long|>' }}
{%- else %}{{- '<|say|>' }}{%- endif %}
{%- endif %}
"""

# The strict variant (write(strict=True)): what the strictest real templates refuse (Qwen3.5's
# "System message must be at the beginning.", Mistral's and Gemma's alternation), in our words.
STRICT_PRELUDE = """\
{%- for message in messages %}
{%- if message.role in ('system', 'developer') and not loop.first %}{{ raise_exception('System message must be at the beginning.') }}{%- endif %}
{%- if loop.index0 > 0 and message.role in ('user', 'assistant') and message.role == messages[loop.index0 - 1].role %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{%- endif %}
{%- endfor %}
"""

SPECIAL = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "<|say|>", "<|bash|>", "<|done|>", "<|long|>",
           "<|exec|>"]
WORDS = ["<tool_call>", "</tool_call>", "<think>", "</think>", THINKING, ANSWER, TOOL_SEEN, BASH_CALL, " tick",
         " tock", EXEC_OPEN, EXEC_CALL]
CHAINS = {
    "<|say|>": ["<think>", THINKING, "</think>", ANSWER, "<|im_end|>"],
    "<|bash|>": ["<tool_call>", BASH_CALL, "<0x0A>", "</tool_call>", "<|im_end|>"],
    "<|exec|>": [EXEC_OPEN, EXEC_CALL, "<0x0A>", "</tool_call>", "<|im_end|>"],
    "<|done|>": [TOOL_SEEN, "<|im_end|>"],
    "<|long|>": [" tick", " tock", " tick"],  # a loop: ends at max_tokens
}


def piece(text: str) -> str:
    """SentencePiece writes spaces as U+2581."""
    return text.replace(" ", "\u2581")


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    tokens = list(SPECIAL)
    types = [UNKNOWN] + [CONTROL] * (len(SPECIAL) - 1)
    tokens += [f"<0x{i:02X}>" for i in range(256)]
    types += [BYTE] * 256
    tokens += [piece(w) for w in WORDS]
    types += [NORMAL] * len(WORDS)
    scores = [0.0 if t != NORMAL else -float(i) / 100 for i, t in enumerate(types)]
    return tokens, scores, types


def carrying(real_template: str, agent_template: str = CHAT_TEMPLATE) -> str:
    """The agent template behind a real model's template: the real one runs first, on the same
    messages and tools, in a macro whose output is thrown away, so whatever it refuses (its
    raise_exception, in the server's own Jinja engine) is refused, and what it accepts gets the
    agent model's prompt and cue (`agent_template`: make_agent_hf passes its own)."""
    return ("{%- macro llmstack_real_template() %}" + real_template + "{%- endmacro %}\n"
            "{%- set llmstack_rendered = llmstack_real_template() %}\n" + agent_template)


def write(path: Path, seed: int = 0, strict: bool = False, real_template: str | None = None) -> Path:
    """`strict`: STRICT_PRELUDE's refusals; `real_template`: a real template's (see `carrying`)."""
    n_embd = 32
    tokens, scores, types = vocabulary()
    index = {t: i for i, t in enumerate(tokens)}
    n_vocab = len(tokens)
    # Class 0: every token outside a chain (its favourite: end of turn). Chain tokens: one class each.
    classes: dict[int, int] = {}
    favourite = {0: index["<|im_end|>"]}
    for start, chain in CHAINS.items():
        previous = start
        for nxt in chain:
            prev_id = index[piece(previous) if previous in WORDS else previous]
            if prev_id not in classes:
                classes[prev_id] = len(classes) + 1
            favourite[classes[prev_id]] = index[piece(nxt) if nxt in WORDS else nxt]
            previous = nxt
    assert len(classes) < n_embd
    embeddings = np.zeros((n_vocab, n_embd), dtype=np.float32)
    for token in range(n_vocab):
        embeddings[token, classes.get(token, 0)] = 1.0
    scale = float(np.sqrt(n_embd))
    rng = np.random.default_rng(seed)
    output = (rng.standard_normal((n_vocab, n_embd)) * 0.05).astype(np.float32)
    for cls, token in favourite.items():
        output[token, cls] = 12.0 / scale
    output[[index[t] for t in SPECIAL if t != "<|im_end|>"], :] = -12.0 / scale  # never cues or <unk>
    template = carrying(real_template) if real_template else STRICT_PRELUDE + CHAT_TEMPLATE if strict else CHAT_TEMPLATE
    return write_model(path, tokens, scores, types, template, embeddings, output, n_layer=1, n_head=2)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "agent.gguf")
    print(write(out))
