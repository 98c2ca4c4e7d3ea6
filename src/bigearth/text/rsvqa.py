"""RSVQAxBEN-style questions from the labels of each patch: yes/no presence and "which land-cover classes".

Following RSVQAxBEN (Lobry et al., 2021; DESIGN 2.9), each image gets :data:`QUESTIONS_PER_IMAGE` questions of
two types:

* ``yes/no``: presence of 1 to 3 classes joined by "and" or "or", in five forms (:data:`YES_NO_FORMS`); each
  class is asked with yes and with no about equally often (:class:`~bigearth.text.balance.Balancer`).
* ``land cover``: "which ... classes are in the image?" over all classes, each CLC level-1 group, or all classes
  but one present; answered by the classes present in table order, joined by :data:`ANSWER_SEPARATOR`, or
  ``"None"``. Where an image has fewer distinct land-cover questions than slots, yes/no questions fill in.

The mix of types and answers is one of :data:`MIXES`:

* ``original`` (default): the original's, from its answer counts (DESIGN 2.9): :data:`ORIGINAL_LAND_COVER_SHARE`
  of the questions about land cover (5 of 25), :data:`ORIGINAL_YES_SHARE` of the yes/no answers "yes" (held
  within each form and chunk) and :data:`ORIGINAL_NONE_SHARE` of the land-cover answers "None" (where a patch
  allows).
* ``balanced``: half of the questions about land cover, yes and no equally often within each form and chunk, so
  that the question alone does not give the answer (what bigearth generated before it followed the original).
"""

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bigearth.data.index import build_index
from bigearth.errors import ConfigError
from bigearth.nomenclature import CLASSES_TABLE
from bigearth.text import templates
from bigearth.text.balance import Balancer, shuffled
from bigearth.text.parts import ChunkedOutput, ChunkResult
from bigearth.text.schema import RSVQA_COLUMNS

QUESTIONS_PER_IMAGE = 25
#: Separator of class names in a land-cover answer (class names themselves hold commas).
ANSWER_SEPARATOR = "; "
NONE_ANSWER = "None"
YES_NO, LAND_COVER = "yes/no", "land cover"
#: Yes/no forms: (number of classes, conjunction).
YES_NO_FORMS: dict[str, tuple[int, str]] = {
    "presence 1": (1, ""), "presence 2 and": (2, "and"), "presence 3 and": (3, "and"),
    "presence 2 or": (2, "or"), "presence 3 or": (3, "or"),
}  # fmt: skip
CHUNK_PATCHES = 1024
#: RSVQAxBEN's answer counts (DESIGN 2.9): yes, no, land-cover lists, "None".
ORIGINAL_COUNTS: dict[str, int] = {"yes": 4_591_079, "no": 7_320_314, "land cover": 2_428_492, "None": 418_265}
#: Share of "yes" among the original's yes/no answers (0.385).
ORIGINAL_YES_SHARE = ORIGINAL_COUNTS["yes"] / (ORIGINAL_COUNTS["yes"] + ORIGINAL_COUNTS["no"])
#: Share of land-cover questions in the original (0.193).
ORIGINAL_LAND_COVER_SHARE = (ORIGINAL_COUNTS["land cover"] + ORIGINAL_COUNTS["None"]) / sum(ORIGINAL_COUNTS.values())
#: Share of "None" among the original's land-cover answers (0.147).
ORIGINAL_NONE_SHARE = ORIGINAL_COUNTS["None"] / (ORIGINAL_COUNTS["land cover"] + ORIGINAL_COUNTS["None"])
ORIGINAL, BALANCED = "original", "balanced"
#: Question mixes (see the module docstring).
MIXES: tuple[str, ...] = (ORIGINAL, BALANCED)
RSVQA_SCHEMA = pa.schema([(name, pa.string()) for name in RSVQA_COLUMNS])


@dataclass(frozen=True)
class LabelledPatch:
    """What an RSVQAxBEN question needs of a patch: names, split and labels (class names)."""

    patch_id: str
    s1_name: str
    split: str
    labels: tuple[str, ...]


def _yes_no(
    patch: LabelledPatch, form: str, rng: np.random.Generator, balancer: Balancer, mix: str
) -> tuple[str, bool, str] | None:
    """Return a yes/no question of one form as (question, answer, decisive class), or None where none fits."""
    count, conjunction = YES_NO_FORMS[form]
    present = [n for n in CLASSES_TABLE if n in patch.labels]
    absent = [n for n in CLASSES_TABLE if n not in patch.labels]
    # "and": yes = all present, no = one absent with present ones (then absent ones) beside it;
    # "or": yes = one present with absent ones, no = all absent. One decisive class, balanced per class.
    feasible = {
        True: len(present) >= (1 if conjunction == "or" else count)
        and len(absent) >= (count - 1 if conjunction == "or" else 0),
        False: len(absent) >= (count if conjunction == "or" else 1),
    }
    candidates = {a: (True if ok else None) for a, ok in feasible.items()}
    if mix == ORIGINAL:
        answer = balancer.answer_share(form, candidates, {True: ORIGINAL_YES_SHARE, False: 1 - ORIGINAL_YES_SHARE})
    else:
        answer = balancer.answer(form, candidates, rng)
    if answer is None:
        return None
    decisive = balancer.item(form, present if answer else absent, answer, rng)
    if conjunction == "or":
        pool = shuffled([n for n in absent if n != decisive], rng)
    elif answer:
        pool = shuffled([n for n in present if n != decisive], rng)
    else:
        pool = shuffled(present, rng) + shuffled([n for n in absent if n != decisive], rng)
    chosen = shuffled([decisive, *pool[: count - 1]], rng)
    names = [templates.in_sentence(n) for n in chosen]
    verb = "Is there" if count == 1 else "Are there"
    question = f"{verb} {f' {conjunction} '.join(names)} in the image?"
    return question, answer, decisive


def _land_cover(patch: LabelledPatch, rng: np.random.Generator) -> list[tuple[str, str, str]]:
    """Return every distinct land-cover question of a patch as (form, question, answer)."""

    def answer(names: list[str]) -> str:
        return ANSWER_SEPARATOR.join(names) if names else NONE_ANSWER

    present = [n for n in CLASSES_TABLE if n in patch.labels]
    out = [("which classes", "Which land-cover classes are in the image?", answer(present))]
    for digit, group in templates.LEVEL1_GROUPS.items():
        members = [n for n in present if templates.group_of(n) == digit]
        out.append((f"which {group}", f"Which {group} are in the image?", answer(members)))
    for name in (present[i] for i in rng.permutation(len(present))):
        others = [n for n in present if n != name]
        out.append(("which besides", f"Which land-cover classes besides {templates.in_sentence(name)} are in the "
                    "image?", answer(others)))  # fmt: skip
    return out


def _original_land_cover(
    land_cover: list[tuple[str, str, str]], wanted: int, rng: np.random.Generator, balancer: Balancer
) -> list[int]:
    """Return ``wanted`` land-cover questions (indices), "None" answers at the original's share of them."""
    pools = {none: shuffled([i for i, q in enumerate(land_cover) if (q[2] == NONE_ANSWER) == none], rng)
             for none in (False, True)}  # fmt: skip
    shares = {True: ORIGINAL_NONE_SHARE, False: 1 - ORIGINAL_NONE_SHARE}
    picked = []
    for _ in range(min(wanted, len(land_cover))):
        none = balancer.answer_share(LAND_COVER, {a: pools[a] or None for a in pools}, shares)
        picked.append(pools[none].pop())
    return picked


def patch_questions(
    patch: LabelledPatch,
    rng: np.random.Generator,
    balancer: Balancer,
    count: int = QUESTIONS_PER_IMAGE,
    mix: str = ORIGINAL,
) -> list[tuple[str, str, str, str]]:
    """Return ``count`` questions of one patch as (question, answer, type, form), land-cover ones first."""
    land_cover = _land_cover(patch, rng)
    if mix == ORIGINAL:
        order = _original_land_cover(land_cover, round(count * ORIGINAL_LAND_COVER_SHARE), rng, balancer)
    else:
        order = rng.permutation(len(land_cover))[: count // 2]
    rows = [(land_cover[i][1], land_cover[i][2], LAND_COVER, land_cover[i][0]) for i in sorted(order)]
    forms = list(YES_NO_FORMS)
    asked: set[str] = set()
    attempt = 0
    while len(rows) < count and attempt < 20 * count:
        form = forms[attempt % len(forms)]
        attempt += 1
        made = _yes_no(patch, form, rng, balancer, mix)
        if made is None:
            continue
        question, answer, decisive = made
        if question in asked:
            balancer.release(form, answer, decisive)
            continue
        asked.add(question)
        rows.append((question, "yes" if answer else "no", YES_NO, form))
    return rows


@dataclass(frozen=True)
class RsvqaJob:
    """One chunk of patches (sent to a worker)."""

    index: int
    patches: tuple[LabelledPatch, ...]
    seed: int
    count: int
    mix: str


def run_chunk(job: RsvqaJob) -> ChunkResult:
    """Return the questions of one chunk."""
    balancer = Balancer()
    rows = []
    for patch in job.patches:
        rng = np.random.default_rng([job.seed, zlib.crc32(patch.patch_id.encode())])
        for number, (question, answer, kind, form) in enumerate(
            patch_questions(patch, rng, balancer, job.count, job.mix)
        ):
            rows.append({"ID": f"{patch.patch_id}-q{number:02d}", "patch_id": patch.patch_id,
                         "s1_name": patch.s1_name, "split": patch.split, "question": question, "answer": answer,
                         "type": kind, "form": form})  # fmt: skip
    return ChunkResult(job.index, {"questions": pa.Table.from_pylist(rows, schema=RSVQA_SCHEMA)})


def generate_rsvqa(
    data: Path,
    out: Path,
    *,
    seed: int = 0,
    count: int = QUESTIONS_PER_IMAGE,
    mix: str = ORIGINAL,
    workers: int = 0,
    scheduler: str | None = None,
    include_snow_cloud: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write the RSVQAxBEN-style questions of a data set's patches (labels from the metadata).

    Args:
        data: store folder or release root (only its metadata is read).
        out: parquet file to write (:data:`~bigearth.text.schema.RSVQA_COLUMNS`).
        seed: random seed.
        count: questions per image.
        mix: one of :data:`MIXES` (see the module docstring).
        workers: worker processes (0: this process).
        scheduler: Dask scheduler address or ``"local"``.
        include_snow_cloud: also the flagged patches.
        progress: called as ``progress(patches done, patches)``.

    Returns:
        The number of questions written.

    Raises:
        ConfigError: for another mix.
    """
    if mix not in MIXES:
        raise ConfigError(f"unknown question mix {mix!r}: use one of {list(MIXES)}")
    frame = build_index(Path(data), split=None, include_snow_cloud=include_snow_cloud).frame
    patches = [
        LabelledPatch(p, s, split, tuple(labels))
        for p, s, split, labels in zip(frame["patch_id"], frame["s1_name"], frame["split"], frame["labels"],
                                       strict=True)
    ]  # fmt: skip
    chunks = [tuple(patches[i : i + CHUNK_PATCHES]) for i in range(0, len(patches), CHUNK_PATCHES)]
    output = ChunkedOutput(
        {"questions": (Path(out), RSVQA_SCHEMA)},
        {"data": str(Path(data).resolve()), "seed": seed, "count": count, "mix": mix,
         "include_snow_cloud": include_snow_cloud,
         "chunk": CHUNK_PATCHES, "patches": len(patches)},
    )  # fmt: skip
    jobs = [RsvqaJob(i, chunk, seed, count, mix) for i, chunk in enumerate(chunks)]
    sizes = [len(chunk) for chunk in chunks]
    output.run(run_chunk, jobs, sizes, workers=workers, scheduler=scheduler, progress=progress)
    return pq.ParquetFile(out).metadata.num_rows
