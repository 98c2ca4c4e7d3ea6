"""The one typer application that every command module of ``bigearth.cli`` registers its commands on.

It also owns the error path of every command: a :class:`~bigearth.errors.BigEarthError`, an ``OSError`` (a
read-only folder, a full disk, a file where a folder is expected) or a SIGTERM ends the command with one line on
stderr, printed literally (never read as rich markup, so ``[nan]`` or ``[/x]`` in a message stay as they are),
and a non-zero exit status; no traceback. Anything else is a bug of bigearth and keeps its traceback.
"""

import errno
import signal
import sys
from collections.abc import Callable
from typing import Annotated, Any, NoReturn

import click
import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from bigearth.errors import BigEarthError
from bigearth.progress import report_progress
from bigearth.quiet import quiet_lightning

#: Exit status of a command stopped by SIGTERM (128 + 15, as shells report it).
SIGTERM_EXIT = 128 + signal.SIGTERM
#: Standard output of every command; markup is off, so paths and values print literally (style with Text).
console = Console(markup=False)
errors = Console(stderr=True, soft_wrap=True, highlight=False)


def labelled(label: str, style: str, message: str) -> Text:
    """Return ``label`` in ``style`` followed by ``message`` printed literally (for ``console.print``)."""
    return Text(label, style=style) + Text(f" {message}" if message else "")


def print_error(message: str) -> None:
    """Print ``error: <message>`` on stderr as one line, literally (no markup, no wrapping)."""
    errors.print(Text("error: ", style="bold red") + Text(" ".join(str(message).split())))


def fail(error: BigEarthError | str) -> NoReturn:
    """Print a bigearth error as one line and exit with status 1."""
    print_error(str(error))
    raise typer.Exit(1)


def at_least(bound: int) -> Callable[[int | None], int | None]:
    """Return a typer option callback that refuses a number below ``bound``, naming the value."""

    def check(value: int | None) -> int | None:
        if value is not None and value < bound:
            raise typer.BadParameter(f"{value} is below {bound}; give a whole number of at least {bound}")
        return value

    return check


#: ``--device`` of the commands that run a model.
DeviceOption = Annotated[str, typer.Option(help="auto (a CUDA GPU if torch sees one, else CPU), cpu, cuda or cuda:N")]
#: ``--batch-size`` of the commands that run a model over patches.
BatchSizeOption = Annotated[int, typer.Option(callback=at_least(1), help="patches per forward pass")]


def describe_os_error(error: OSError) -> str:
    """Return one line naming the file of an ``OSError`` and what to do about it."""
    where = f" {error.filename}" if error.filename else ""
    if error.errno == errno.ENOSPC:
        return (
            f"no space left on the device while writing{where}; free space or choose another folder, then rerun "
            "the command (an interrupted encode or training resumes where it stopped)"
        )
    if isinstance(error, PermissionError) or error.errno == errno.EROFS:
        return f"permission denied:{where} cannot be written or read; choose a folder you can write, or fix its rights"
    if isinstance(error, NotADirectoryError):
        return f"{where.strip()} (or a folder above it) is a file where a folder is expected; choose another path"
    if isinstance(error, IsADirectoryError):
        return f"{where.strip()} is a folder where a file is expected; choose another path"
    return f"{error.strerror or error}:{where}; check the path"


def _sigterm_exception() -> type[BaseException] | None:
    """Return Lightning's SIGTERM exception if Lightning was imported (it is only raised by a running trainer)."""
    if "lightning" not in sys.modules:
        return None
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    return SIGTERMException


class BigEarthGroup(TyperGroup):
    """The top-level command group: runs a command and turns the errors a user can act on into one line."""

    def invoke(self, ctx: click.Context) -> Any:
        """Invoke the chosen command; print ``error: ...`` and exit non-zero on user errors and signals."""
        quiet_lightning()
        try:
            with report_progress(errors):  # passes over a split show a bar where stderr is a terminal
                return super().invoke(ctx)
        except BigEarthError as error:
            fail(error)
        except OSError as error:
            print_error(describe_os_error(error))
            raise typer.Exit(1) from None
        except SystemExit as stop:
            sigterm = _sigterm_exception()
            if sigterm is None or not isinstance(stop, sigterm):
                raise
            print_error(
                "stopped by SIGTERM; the run keeps the checkpoint of its last finished epoch: rerun the same command "
                "(or `bigearth train RUN_FOLDER`) to resume"
            )
            raise typer.Exit(SIGTERM_EXIT) from None


app = typer.Typer(
    name="bigearth",
    help="Deep learning on Sentinel-1/Sentinel-2 data around the refined BigEarthNet (reBEN) archive.",
    cls=BigEarthGroup,
    rich_markup_mode=None,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    """Print ``bigearth <version>`` and exit, for ``--version``."""
    if value:
        from bigearth import __version__

        console.print(f"bigearth {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """Deep learning on Sentinel-1/Sentinel-2 data around the refined BigEarthNet (reBEN) archive."""
