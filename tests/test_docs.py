"""The reference tables in docs/ are what the code says today (like the golden examples): after a
change to an option or a backend, regenerate them with `python -m llmstack.docs` and commit."""

from __future__ import annotations

from llmstack import backends, docs, options


def test_docs_are_up_to_date(capsys):
    code = docs.main(["--check"])
    assert code == 0, capsys.readouterr().err + "\nRegenerate with `python -m llmstack.docs` and commit the diff."


def test_every_option_and_backend_is_documented():
    cli, engines = docs.cli_reference(), docs.backends_reference()
    for option in options.OPTIONS:
        assert f"`{option.flag}`" in cli or f"`{option.flags[0]}`" in cli, option.name
    for key in options.KEYS:
        assert f"{key.key}`" in cli, key.name
    for backend in backends.registry().values():
        assert f"(`--backend {backend.name}`)" in engines


def test_engines_page_lists_every_catalogued_release_and_family():
    from llmstack import catalog
    from llmstack.catalog import families

    page = docs.engines_reference()
    assert page.startswith(docs.GENERATED) and "# Engines and versions" in page
    for backend in catalog.backends():
        for version in catalog.versions(backend):
            assert f"`{version}`" in page, (backend, version)
    for family in families.TABLE:
        assert f"| {family} |" in page, family
