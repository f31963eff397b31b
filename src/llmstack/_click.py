"""Click, wherever this Typer keeps it: recent Typer releases vendor it as `typer._click`,
older ones depend on the `click` package."""

try:  # pragma: no cover - depends on the installed Typer
    from typer import _click as click
    from typer._click.core import ParameterSource
    from typer._click.exceptions import ClickException
    from typer.exceptions import Abort
except ImportError:  # pragma: no cover
    import click  # type: ignore[no-redef]
    from click.core import ParameterSource  # type: ignore[no-redef]
    from click.exceptions import Abort, ClickException  # type: ignore[no-redef]

__all__ = ["Abort", "ClickException", "ParameterSource", "click"]


def share_plain_coercions() -> None:
    """Typer 0.29 builds a pydantic TypeAdapter for every parameter of a command on every run
    (`typer.core._TyperParameter.get_runtime_param`, about 2 ms each), and `render` has some 40
    options where the smallest Typer program has one. An unconstrained `str`, `int`, `float` or
    `bool` parameter gets the same adapter whichever parameter it is: build it once per type.
    Anything with a parser, bounds, choices, paths, files, lists or dates is left to Typer. A Typer
    without this hook (older, or vendoring Click differently) is left alone."""
    try:
        from typer import core
    except ImportError:  # pragma: no cover
        return
    build = getattr(core, "build_runtime_param", None)
    if build is None or getattr(build, "shared_by_llmstack", False):
        return
    shared: dict[type, object] = {}

    def plain(descriptor) -> bool:
        info = descriptor.parameter_info
        try:
            return (descriptor.annotation in (str, int, float, bool) and getattr(info, "parser", None) is None
                    and getattr(info, "click_type", None) is None and not descriptor.is_ranged
                    and not descriptor.is_path and not descriptor.is_choice and not descriptor.is_file
                    and not descriptor.is_list and not descriptor.is_tuple and not descriptor.is_datetime)
        except Exception:  # pragma: no cover - a Typer whose descriptor differs
            return False

    def build_runtime_param(descriptor):
        if not plain(descriptor):
            return build(descriptor)
        if descriptor.annotation not in shared:
            shared[descriptor.annotation] = build(descriptor)
        return shared[descriptor.annotation]

    build_runtime_param.shared_by_llmstack = True  # type: ignore[attr-defined]
    core.build_runtime_param = build_runtime_param
