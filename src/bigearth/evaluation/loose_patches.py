"""Loose patch folders as distributed (``<dir>/<patch>/<patch>_<BAND>.tif``), read into raw band groups.

``bigearth predict --s2-dir DIR [--s1-dir DIR]`` accepts, for each sensor, one patch folder, a folder of patch
folders (an S2 tile, an S1 scene) or the sensor's tree (``BigEarthNet-S1``). S1 and S2 patches of the same
place are paired by their tile and grid position (``T33UUP_75_43`` and ``33UUP_75_43``); a single S2 and a
single S1 patch are paired whatever their names.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from bigearth.bands import native_size, sensor
from bigearth.data.geotiff import S1_DTYPE, S2_DTYPE, read_band
from bigearth.data.layout import parse_s1_name, parse_s2_name
from bigearth.data.transforms import group_bands
from bigearth.errors import MissingDataError


@dataclass(frozen=True)
class LoosePatch:
    """One place to predict: its S2 and/or S1 patch folder."""

    name: str
    s2: Path | None = None
    s1: Path | None = None


def patch_folders(folder: Path, bands: tuple[str, ...]) -> list[Path]:
    """Return the patch folders under ``folder``: every folder holding a ``*_<band>.tif`` file of any of ``bands``.

    ``folder`` may be a patch folder, a folder of patch folders (an S2 tile, an S1 scene) or a sensor's whole
    tree (``BigEarthNet-S2``, ``BigEarthNet-S1``); the shallowest level holding patch folders is used. A patch
    folder that lacks some band is still found (and reported by name when its bands are read), never dropped.

    Raises:
        MissingDataError: if no patch folder is found.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingDataError(f"{folder} is not a folder; pass a patch folder or a folder of patch folders")
    for depth in range(3):
        files = [path for band in bands for path in folder.glob("/".join(["*"] * depth + [f"*_{band}.tif"]))]
        if files:
            return sorted({path.parent for path in files})
    raise MissingDataError(
        f"{folder} holds no patch folder with *_<band>.tif files of {list(bands)} (searched two levels down); pass "
        "a folder such as BigEarthNet-S2/<tile>/<patch_id>, its tile folder or BigEarthNet-S2"
    )


def _place(name: str, kind: str) -> tuple[str, int, int] | None:
    """Return (MGRS tile, x, y) of an official S2 or S1 patch name, or None for another name."""
    try:
        parts = parse_s2_name(name) if kind == "s2" else parse_s1_name(name)
    except ValueError:
        return None
    return parts.mgrs_tile, parts.x, parts.y


def pair_patches(s2_dir: Path | None, s1_dir: Path | None, bands: tuple[str, ...]) -> list[LoosePatch]:
    """Find the patches to predict and pair S2 with S1 folders when the bands need both.

    Args:
        s2_dir: S2 patch folder or folder of them (None when the bands are S1 only).
        s1_dir: S1 patch folder or folder of them (None when the bands are S2 only).
        bands: the model's bands.

    Raises:
        MissingDataError: if a needed sensor's folder is not given, or an S2 patch has no S1 partner.
    """
    needs = {sensor(band) for band in bands}
    for kind, folder, option in (("s2", s2_dir, "--s2-dir"), ("s1", s1_dir, "--s1-dir")):
        if kind in needs and folder is None:
            raise MissingDataError(f"the model reads {kind.upper()} bands {list(bands)}: pass {option}")
    s2 = patch_folders(s2_dir, tuple(b for b in bands if sensor(b) == "s2")) if "s2" in needs else []
    s1 = patch_folders(s1_dir, tuple(b for b in bands if sensor(b) == "s1")) if "s1" in needs else []
    if not s2:
        return [LoosePatch(name=path.name, s1=path) for path in s1]
    if not s1:
        return [LoosePatch(name=path.name, s2=path) for path in s2]
    if len(s2) == 1 and len(s1) == 1:
        return [LoosePatch(name=s2[0].name, s2=s2[0], s1=s1[0])]
    by_place = {_place(path.name, "s1"): path for path in s1}
    patches = []
    for path in s2:
        place = _place(path.name, "s2")
        if place is None or place not in by_place:
            raise MissingDataError(
                f"no S1 patch folder in {s1_dir} matches the S2 patch {path.name} (same tile and x_y expected, "
                "e.g. S2 ..._T33UUP_75_43 and S1 ..._33UUP_75_43); pass matching folders"
            )
        patches.append(LoosePatch(name=path.name, s2=path, s1=by_place[place]))
    return patches


def read_groups(patches: list[LoosePatch], bands: tuple[str, ...]) -> dict[str, Tensor]:
    """Read the bands of loose patches into raw native-size groups, as the dataset yields them with ``raw=True``.

    Returns:
        ``{group: (B, n, s, s)}`` uint16 (S2) or float32 (S1) tensors, groups and in-group order from
        :func:`bigearth.data.transforms.group_bands`.

    Raises:
        MissingDataError: if a band file is missing.
        CorruptDataError: if a file has the wrong size or type.
    """
    groups = group_bands(bands)
    out = {}
    for name, members in groups.items():
        size = native_size(members[0])
        stack = np.empty((len(patches), len(members), size, size), dtype=S1_DTYPE if name == "s1" else S2_DTYPE)
        for i, patch in enumerate(patches):
            folder = patch.s1 if name == "s1" else patch.s2
            for j, band in enumerate(members):
                dtype = S1_DTYPE if sensor(band) == "s1" else S2_DTYPE
                path = folder / f"{folder.name}_{band}.tif"  # type: ignore[union-attr]
                stack[i, j] = read_band(path, patch=folder.name, size=native_size(band), dtype=dtype)  # type: ignore[union-attr]
        out[name] = torch.from_numpy(stack)
    return out
