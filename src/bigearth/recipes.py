"""The recipes shipped with bigearth, and how a recipe argument on the command line resolves to a file.

The repository's ``configs/`` folder is the one source of the recipes; the package reaches it through
``bigearth/configs`` (a link in the repository, a copy in a wheel), so an installed bigearth ships them as
package data. A packaged recipe is addressed by its path below ``configs/`` without ``.yaml``:
``classification/resnet50-s1s2``.
"""

import difflib
from dataclasses import dataclass
from pathlib import Path

from bigearth.errors import MissingDataError

#: The packaged recipes: ``configs/`` of the repository, package data of an installed bigearth.
RECIPE_DIR = Path(__file__).with_name("configs")
SUFFIX = ".yaml"


@dataclass(frozen=True)
class PackagedRecipe:
    """One shipped recipe.

    Attributes:
        name: its path below ``configs/`` without the suffix, e.g. ``"classification/resnet50-s1s2"``.
        path: the YAML file.
    """

    name: str
    path: Path

    @property
    def summary(self) -> str:
        """The recipe's first comment line (what it is), without the ``#``; empty where it has none."""
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip()
            if line.strip():
                return ""
        return ""


def packaged_recipes() -> dict[str, PackagedRecipe]:
    """Return every packaged recipe by name, in name order."""
    paths = sorted(RECIPE_DIR.rglob(f"*{SUFFIX}"))
    recipes = (PackagedRecipe(path.relative_to(RECIPE_DIR).with_suffix("").as_posix(), path) for path in paths)
    return {recipe.name: recipe for recipe in recipes}


def resolve_recipe(argument: Path | str) -> Path:
    """Return what a recipe argument names: a file path, else a run folder, else a packaged recipe's file.

    A packaged name may carry the ``.yaml`` suffix and the ``configs/`` prefix, so that the repository's paths
    (``configs/classification/demo-cpu.yaml``) also work where only the installed package is at hand.

    Args:
        argument: a YAML file, a run folder, or a packaged name such as ``classification/resnet50-s1s2``.

    Returns:
        The file or folder: ``argument`` itself where it exists, else the packaged recipe's YAML file.

    Raises:
        MissingDataError: if it is none of the three; the message names the closest packaged recipes.
    """
    path = Path(argument)
    if path.exists():
        return path
    name = path.as_posix().removeprefix("configs/").removesuffix(SUFFIX)
    recipes = packaged_recipes()
    if name in recipes:
        return recipes[name].path
    close = difflib.get_close_matches(name, list(recipes), n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise MissingDataError(
        f"{argument} is neither a file, a run folder nor a packaged recipe; {hint}`bigearth configs` lists the "
        "packaged recipes"
    )
