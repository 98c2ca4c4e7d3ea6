"""Installed size of bigearth's core and of each extra, measured on the distributions installed in this environment.

For the core (``[project] dependencies``) and for the core plus each extra, the script follows the requirements
of the installed distributions (their markers evaluated for this interpreter, extras followed) and adds up the
sizes of the files each distribution installed. The baseline is ``[all]``, every optional stack, which is what
every install was before the extras existed. Run it in the project virtualenv, where ``[all,dev]`` is installed:
``.venv/bin/python benchmarks/install_size.py``.
"""

import argparse
import os
import platform
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def closure(requirements: list[str], extras: dict[str, list[str]]) -> dict[str, metadata.Distribution]:
    """Return every installed distribution that ``requirements`` pull in, by canonical name."""
    found: dict[str, tuple[metadata.Distribution, set[str]]] = {}
    todo = [Requirement(text) for text in requirements]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name == "bigearth":  # the project's own extras, e.g. bigearth[ssl,fm] inside [all]
            todo += [Requirement(text) for extra in requirement.extras for text in extras[extra]]
            continue
        wanted = set(requirement.extras) | (found[name][1] if name in found else set())
        if name in found and wanted <= found[name][1]:
            continue
        distribution = metadata.distribution(name)
        found[name] = (distribution, wanted)
        for text in distribution.requires or []:
            sub = Requirement(text)
            if sub.marker is None or any(
                sub.marker.evaluate({**default_environment(), "extra": extra}) for extra in wanted | {""}
            ):
                todo.append(sub)
    return {name: distribution for name, (distribution, _) in found.items()}


def installed_bytes(distributions: dict[str, metadata.Distribution]) -> int:
    """Sum the sizes of the files the distributions installed (their RECORD)."""
    paths = {Path(d.locate_file(file)) for d in distributions.values() for file in d.files or []}
    return sum(path.stat().st_size for path in paths if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"{platform.node()}, {os.cpu_count()} cores, load {load}; python {platform.python_version()}; GB = 10^9 bytes"
    )
    baseline = closure([*project["dependencies"], "bigearth[all]"], extras)
    all_bytes = installed_bytes(baseline)
    print("| install | distributions | GB | x [all] |\n| --- | ---: | ---: | ---: |")
    for label in ["core", "ssl", "fm", "vqa", "text", "retrieval", "build", "all"]:
        wanted = project["dependencies"] + ([] if label == "core" else [f"bigearth[{label}]"])
        distributions = closure(wanted, extras)
        size = installed_bytes(distributions)
        name = "core" if label == "core" else f"core + [{label}]"
        print(f"| {name} | {len(distributions)} | {size / 1e9:.2f} | {size / all_bytes:.2f} |")
    core = closure(project["dependencies"], extras)
    for label, names in (("torch", ["torch"]), ("triton", ["triton"]),
                         ("nvidia-*", [name for name in core if name.startswith("nvidia")])):  # fmt: skip
        part = installed_bytes({name: core[name] for name in names if name in core})
        print(f"of the core: {label} {part / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
