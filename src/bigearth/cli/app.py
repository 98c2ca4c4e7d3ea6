"""The one typer application that every command module of ``bigearth.cli`` registers its commands on."""

import typer

app = typer.Typer(
    name="bigearth",
    help="Deep learning on Sentinel-1/Sentinel-2 data around the refined BigEarthNet (reBEN) archive.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
