"""``--print-config`` of the training verbs: a recipe resolved as a run would resolve it, printed as YAML.

The recipe of every task is read the same way (file or run folder, then ``key=value`` overrides, then ``--data``),
so what is printed is what ``config.yaml`` of the run would hold; nothing is trained and no folder is made.
"""

import importlib
from pathlib import Path
from typing import Annotated

import typer
import yaml

from bigearth.errors import ConfigError
from bigearth.suggest import did_you_mean

#: config ``task`` -> ``module:function`` that reads a recipe file with dotted overrides.
RECIPE_LOADERS: dict[str, str] = {
    "classification": "bigearth.tasks.config:load_config",
    "segmentation": "bigearth.tasks.mae.segmentation_config:load_segmentation_config",
    "vqa": "bigearth.tasks.vqa.config:load_vqa_config",
    "ssl": "bigearth.tasks.ssl.config:load_ssl_config",
    "csmae": "bigearth.tasks.mae.config:load_pretrain_config",
}
#: The ``--print-config`` option of the training verbs.
PrintConfig = Annotated[
    bool, typer.Option("--print-config", help="print the resolved recipe (file, overrides, --data) as YAML and exit")
]
#: What ``--help`` of the training verbs says about recipes.
RECIPE_HELP = (
    "A recipe is YAML with the sections task, seed_everything, trainer (lightning.Trainer arguments, plus logger and "
    "callbacks as class_path/init_args entries), model, data, optimizer, scheduler and the task's own (classification: "
    "early_stopping; ssl: augment, georank, evaluation...); --print-config shows them all, resolved."
)


def print_recipe(config: Path, overrides: list[str], *, tasks: tuple[str, ...]) -> None:
    """Print the resolved recipe of a YAML file or run folder as YAML.

    Args:
        config: the YAML recipe, or a run folder (its ``config.yaml``).
        overrides: dotted ``key=value`` pairs (``data.path=...`` for ``--data`` included).
        tasks: the tasks the calling verb runs.

    Raises:
        MissingDataError: if the file does not exist.
        ConfigError: for a recipe of another verb's task, or an invalid one.
    """
    from bigearth.cli.pretrain import config_task  # the module of `pretrain`, which imports this one
    from bigearth.tasks.run import CONFIG_FILE

    recipe_file = config / CONFIG_FILE if config.is_dir() else config
    task = config_task(recipe_file, default="classification")
    if task not in tasks:
        raise ConfigError(
            f"{config} names task {task!r}{did_you_mean(str(task), tasks)}; this command runs {list(tasks)}"
        )
    module, _, function = RECIPE_LOADERS[task].partition(":")
    recipe = getattr(importlib.import_module(module), function)(recipe_file, overrides)
    typer.echo(yaml.safe_dump(recipe.to_dict(), sort_keys=False).rstrip())
