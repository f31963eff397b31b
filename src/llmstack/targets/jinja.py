"""The template machinery every target shares: one Jinja environment, its template functions, and a
cache of compiled templates. No I/O besides reading the templates (and the cache, best effort).

Every `{{ ... }}` passes through `escaping.finalize` (the one path by which a value reaches a
rendered file: no value can add a line, a key or a document); the filters make values exact:

- `cq`: a YAML scalar Compose reads back verbatim (`$` doubled against its interpolation);
- `yq` / `json`: a YAML (JSON) scalar or flow collection;
- `block`: the output of a template macro, already finalized piece by piece, kept as structure;
- `var(name, default)`: `"${NAME:-default}"`, a host-specific value `.env` may override; and
  `var_text`, the same unquoted, to be quoted with more text.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import lru_cache

import jinja2

from llmstack import __version__, escaping
from llmstack.escaping import block, compose_quote, compose_variable, finalize, json_text, yaml_quote
from llmstack.paths import templates_dir

OPTIONS: dict[str, object] = {"finalize": finalize, "undefined": jinja2.StrictUndefined, "autoescape": False,
                              "keep_trailing_newline": True, "trim_blocks": True, "lstrip_blocks": True}


def fingerprint() -> str:
    """Of the code that sets up the environment (this module and escaping.py) and llmstack's
    version: Jinja checks a cached template against its source and Jinja's own version, not
    against the environment it was compiled for, and `finalize` (the escaping of every value) is
    compiled into the code. Code compiled by an older or newer llmstack is never run."""
    digest = hashlib.sha256(__version__.encode())
    for path in (__file__, escaping.__file__):
        try:
            with open(path, "rb") as handle:
                digest.update(handle.read())
        except OSError:  # pragma: no cover - a module without its source: never reuse a cache
            digest.update(os.urandom(16))
    return digest.hexdigest()[:16]


class CompiledCache(jinja2.BytecodeCache):
    """Compiled templates in the user's cache directory, one directory per `fingerprint()`: a
    cold run skips Jinja's parser and compiler (about 20 ms). Any I/O problem just means no cache."""

    def __init__(self, directory: str | None = None) -> None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        self.directory = directory or os.path.join(base, "llmstack", f"jinja-{fingerprint()}")

    def _path(self, bucket: jinja2.bccache.Bucket) -> str:
        return os.path.join(self.directory, f"{bucket.key}.cache")

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            with open(self._path(bucket), "rb") as handle:
                bucket.load_bytecode(handle)
        except (OSError, ValueError, EOFError):
            pass

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            os.makedirs(self.directory, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=self.directory)
            with os.fdopen(fd, "wb") as handle:
                bucket.write_bytecode(handle)
            os.replace(temp, self._path(bucket))
        except OSError:
            pass


def var(name: str, default: str) -> str:
    """`"${NAME:-default}"`: a quoted Compose variable with a default."""
    return json_text(compose_variable(name, default))


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())), bytecode_cache=CompiledCache(),
                             **OPTIONS)  # type: ignore[arg-type]
    env.filters["cq"] = compose_quote
    env.filters["yq"] = yaml_quote
    env.filters["json"] = json_text
    env.filters["block"] = block
    env.globals["var"] = var
    env.globals["var_text"] = compose_variable
    return env


def render(template: str, context: dict[str, object], **more: object) -> str:
    """One template of the package, rendered with the shared environment."""
    return environment().get_template(template).render(context, **more)
