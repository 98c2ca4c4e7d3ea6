"""``bigearth configs``: the recipes shipped with the package, and the command that runs each."""

from typing import Annotated

import typer
from rich.table import Table

from bigearth.cli.app import app, console
from bigearth.recipes import packaged_recipes


@app.command()
def configs(
    pattern: Annotated[str, typer.Argument(help="show only names containing this text, e.g. classification/")] = "",
) -> None:
    """List the packaged recipes; pass a name to `bigearth train` or `bigearth pretrain` as it is shown."""
    from bigearth.tasks.registry import PRETRAINING_TASKS, recipe_task

    table = Table(title="packaged recipes", title_justify="left")
    table.add_column("recipe", no_wrap=True)
    table.add_column("run with", no_wrap=True)
    table.add_column("what it is")
    for name, recipe in packaged_recipes().items():
        if pattern in name:
            verb = "pretrain" if recipe_task(recipe.path) in PRETRAINING_TASKS else "train"
            table.add_row(name, f"bigearth {verb}", recipe.summary)
    console.print(table)
