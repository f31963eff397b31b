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
