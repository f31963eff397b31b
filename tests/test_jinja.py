"""The template functions every target renders with (targets/jinja.py), tested directly (helm's
funcs_test.go habit): each `{{ }}` goes through escaping.finalize, the filters make values exact,
and a compiled template is only reused under the settings it was compiled with."""

from __future__ import annotations

import jinja2
import pytest
import yaml

from llmstack.escaping import LINE_BREAKS
from llmstack.targets import jinja

HOSTILE = [*LINE_BREAKS, "\x00", "\t", "$", "${HOME}", "$$", '"', "'", ": ", "# ", "yes", "on", "~", "null"]


def from_string(source: str, **context: object) -> str:
    return jinja.environment().from_string(source).render(**context)


@pytest.mark.parametrize("piece", HOSTILE)
def test_no_value_adds_a_line(piece):
    """In a comment, unquoted or quoted: one line in, one line out, whatever the value (templates
    quote every value they put in YAML; the quoted one reads back exactly)."""
    text = from_string("# {{ v }}\nplain: {{ v }}\nquoted: {{ v | yq }}\n", v=f"a{piece}b")
    lines = text.splitlines()
    assert len(lines) == 3 and len(text.split("\n")) == 4
    assert yaml.safe_load(lines[2])["quoted"] == f"a{piece}b"


@pytest.mark.parametrize("piece", HOSTILE)
def test_cq_reads_back_verbatim_after_compose_interpolation(piece):
    value = f"a{piece}b"
    quoted = from_string("{{ v | cq }}", v=value)
    assert yaml.safe_load(quoted).replace("$$", "$") == value


@pytest.mark.parametrize("value, expected", [(True, "true"), (None, "null"), (3, "3"), (0.5, "0.5"),
                                             ("yes", '"yes"'), ("a$b", '"a$$b"')])
def test_cq_keeps_types_and_quotes_strings(value, expected):
    assert from_string("{{ v | cq }}", v=value) == expected


def test_var_is_a_quoted_compose_variable_with_its_default():
    assert from_string("{{ var('HOST_DIR', '/data/$x') }}") == '"${HOST_DIR:-/data/$$x}"'
    assert from_string("{{ var_text('HOST_DIR', 'a') ~ ':/b' }}") == "${HOST_DIR:-a}:/b"


def test_json_and_block():
    assert from_string("{{ v | json }}", v=["a", "b\u2028"]) == '["a", "b\\u2028"]'
    assert from_string("{{ v | block }}", v="line one\nline two") == "line one\nline two"
    with pytest.raises(ValueError):
        from_string("{{ v | block }}", v="raw\u2028break")


def test_undefined_values_are_errors():
    with pytest.raises(jinja2.UndefinedError):
        from_string("{{ missing }}")


def test_compiled_templates_are_cached_per_fingerprint_of_the_code(tmp_path, monkeypatch):
    """Bytecode compiled by other code (before `finalize` existed, say) is never loaded: the cache
    directory is named after the code that sets up the environment and llmstack's version."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = jinja.fingerprint()
    assert jinja.CompiledCache().directory == str(tmp_path / "llmstack" / f"jinja-{first}")
    monkeypatch.setattr(jinja, "__version__", "another")
    assert jinja.fingerprint() != first


def test_the_cache_round_trips(tmp_path):
    (tmp_path / "t.j2").write_text("# {{ v }}\n")
    for _ in range(2):
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(tmp_path / ".")),
                                 bytecode_cache=jinja.CompiledCache(str(tmp_path / "cache")),
                                 **jinja.OPTIONS)  # type: ignore[arg-type]
        assert env.get_template("t.j2").render(v="a\nb") == "# a\\u000ab\n"
    assert len(list((tmp_path / "cache").iterdir())) == 1
