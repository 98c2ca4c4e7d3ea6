"""BigEarthNet.txt generation over a data set: reference map -> facts -> texts, in chunks, resumable, parallel.

Every patch gets its own random generator, seeded by the run's seed and the patch name, and answers are balanced
within fixed chunks of :data:`CHUNK_PATCHES` consecutive patches; so the output depends on the data and the
seed only, not on ``workers`` or the scheduler. Per patch (with the default two captions) there are about 21
texts: 2 captions, up to 8 binary and 8 multiple-choice questions (one per category), up to 3 detection
instructions.
"""

import importlib
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bigearth.data.source import PatchSource, open_source
from bigearth.errors import BigEarthError, ConfigError
from bigearth.text.balance import Balancer
from bigearth.text.captions import Rephraser, captions
from bigearth.text.context import patch_contexts
from bigearth.text.facts import PatchContext, PatchFacts, patch_facts
from bigearth.text.facts_table import FACTS_SCHEMA, facts_rows
from bigearth.text.parts import ChunkedOutput, ChunkResult
from bigearth.text.questions import binary_questions, multiple_choice_questions
from bigearth.text.referring import detection_instructions
from bigearth.text.schema import TEXT_COLUMNS, Text

#: Patches per chunk: the unit of work of a worker and of answer balancing.
CHUNK_PATCHES = 256
FORMAT_VERSION = 1

TEXT_SCHEMA = pa.schema(
    [(name, pa.float64() if name in ("latitude", "longitude") else pa.string()) for name in TEXT_COLUMNS]
)


@dataclass(frozen=True)
class GenerateSettings:
    """What the texts depend on besides the data.

    Attributes:
        seed: random seed of wordings, choices and option orders.
        captions: captions per patch (0..4).
        rephrase: ``"module:function"`` of a :data:`~bigearth.text.captions.Rephraser`, or None.
        skip_invalid: leave out (and report) patches whose reference map is missing or invalid instead of failing.
    """

    seed: int = 0
    captions: int = 2
    rephrase: str | None = None
    skip_invalid: bool = False


@dataclass(frozen=True)
class GenerateSummary:
    """The result of :func:`generate`.

    Attributes:
        patches: patches with texts.
        texts: rows written.
        skipped: ``(patch_id, reason)`` of patches left out.
        texts_path: the texts file.
        facts_path: the facts file.
    """

    patches: int
    texts: int
    skipped: list[tuple[str, str]]
    texts_path: Path
    facts_path: Path


@dataclass(frozen=True)
class ChunkJob:
    """One chunk of patches to turn into texts (sent to a worker)."""

    data: str
    index: int
    contexts: tuple[PatchContext, ...]
    settings: GenerateSettings


def load_rephraser(spec: str | None) -> Rephraser | None:
    """Import a rephrasing function named ``"package.module:function"`` (or ``"module:Class.method"``).

    Raises:
        ConfigError: if it cannot be imported or is not callable.
    """
    if spec is None:
        return None
    module_name, _, attributes = spec.partition(":")
    try:
        function = importlib.import_module(module_name)
        for attribute in attributes.split("."):
            function = getattr(function, attribute)
    except (ImportError, AttributeError, ValueError) as error:
        raise ConfigError(
            f"cannot import the rephrasing function {spec!r} ({error}); give it as 'package.module:function'"
        ) from error
    if not callable(function):
        raise ConfigError(f"{spec!r} is not a function; a rephraser takes a caption and returns a caption")
    return function


def patch_rng(seed: int, patch_id: str) -> np.random.Generator:
    """Return the random generator of one patch: a function of the seed and the patch name only."""
    return np.random.default_rng([seed, zlib.crc32(patch_id.encode())])


def patch_texts(
    facts: PatchFacts,
    rng: np.random.Generator,
    balancer: Balancer,
    *,
    caption_count: int = 2,
    rephraser: Rephraser | None = None,
) -> list[Text]:
    """Return all texts of one patch: captions, binary and multiple-choice questions, detection instructions."""
    texts = captions(facts, rng, caption_count)
    if rephraser is not None:
        texts = [Text(t.input, rephraser(t.output), t.type, t.category, claims=t.claims) for t in texts]
    texts += binary_questions(facts, rng, balancer)
    texts += multiple_choice_questions(facts, rng, balancer)
    texts += detection_instructions(facts, rng)
    return texts


def text_rows(context: PatchContext, texts: list[Text]) -> list[dict]:
    """Return the BigEarthNet.txt rows of a patch's texts; IDs are ``<patch_id>-<number>``."""
    shared = {
        "s1_name": context.s1_name, "patch_id": context.patch_id, "split": context.split,
        "latitude": context.latitude, "longitude": context.longitude, "country": context.country,
        "season": context.season, "climate_zone": context.climate_zone,
    }  # fmt: skip
    return [
        {"ID": f"{context.patch_id}-{number:02d}", "input": text.input, "output": text.output, "type": text.type,
         "category": text.category, **shared}
        for number, text in enumerate(texts)
    ]  # fmt: skip


def chunk_texts(
    source: PatchSource, contexts: Sequence[PatchContext], settings: GenerateSettings
) -> Iterator[tuple[PatchFacts, list[Text]] | tuple[str, str]]:
    """Yield ``(facts, texts)`` for each patch of one chunk, or ``(patch_id, reason)`` for a patch skipped.

    Raises:
        BigEarthError: for a missing or invalid reference map, unless ``settings.skip_invalid``.
    """
    rephraser = load_rephraser(settings.rephrase)
    balancer = Balancer()
    for context in contexts:
        try:
            facts = patch_facts(source.read_reference_map(context.patch_id), context)
        except BigEarthError as error:
            if not settings.skip_invalid:
                raise
            yield context.patch_id, str(error)
            continue
        rng = patch_rng(settings.seed, context.patch_id)
        yield facts, patch_texts(facts, rng, balancer, caption_count=settings.captions, rephraser=rephraser)


def run_chunk(job: ChunkJob) -> ChunkResult:
    """Read the reference maps of one chunk and return its texts and facts tables."""
    texts: list[dict] = []
    facts: list[dict] = []
    skipped: list[tuple[str, str]] = []
    for first, second in chunk_texts(open_source(Path(job.data)), job.contexts, job.settings):
        if isinstance(first, PatchFacts):
            texts += text_rows(first.context, second)
            facts += facts_rows(first)
        else:
            skipped.append((first, second))
    tables = {
        "texts": pa.Table.from_pylist(texts, schema=TEXT_SCHEMA),
        "facts": pa.Table.from_pylist(facts, schema=FACTS_SCHEMA),
    }
    return ChunkResult(job.index, tables, skipped)


def facts_path_for(out: Path) -> Path:
    """Return the default facts file of a texts file: ``TEXTS.parquet`` -> ``TEXTS.facts.parquet``."""
    return out.with_name(f"{out.stem}.facts.parquet")


def generate(
    data: Path,
    out: Path,
    *,
    facts_out: Path | None = None,
    settings: GenerateSettings | None = None,
    workers: int = 0,
    scheduler: str | None = None,
    include_snow_cloud: bool = False,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> GenerateSummary:
    """Generate the BigEarthNet.txt texts and the facts table of a data set.

    Args:
        data: store folder or release root (metadata and reference maps).
        out: the texts parquet file to write (:data:`~bigearth.text.schema.TEXT_COLUMNS`).
        facts_out: the facts parquet file; default :func:`facts_path_for` ``(out)``.
        settings: seed, captions per patch, rephraser, invalid-patch handling.
        workers: worker processes (0: this process).
        scheduler: Dask scheduler address or ``"local"`` (see :func:`~bigearth.parallel.run_jobs`).
        include_snow_cloud: also the patches flagged for seasonal snow or cloud/shadow.
        limit: the first ``limit`` patches only.
        progress: called as ``progress(patches done, patches)``.

    Raises:
        MissingDataError: a reference map is missing (names the patch), unless ``settings.skip_invalid``.
        CorruptDataError: a reference map holds a value that is no CLC code, unless ``settings.skip_invalid``.
        ConfigError: bad settings.
    """
    settings = settings or GenerateSettings()
    if not 0 <= settings.captions <= 4:
        raise ConfigError(f"captions per patch must be 0..4, got {settings.captions}")
    load_rephraser(settings.rephrase)  # fail early on a bad name
    out, facts_out = Path(out), Path(facts_out) if facts_out is not None else facts_path_for(Path(out))
    contexts = patch_contexts(data, include_snow_cloud=include_snow_cloud, limit=limit)
    chunks = [tuple(contexts[i : i + CHUNK_PATCHES]) for i in range(0, len(contexts), CHUNK_PATCHES)]
    output = ChunkedOutput(
        {"texts": (out, TEXT_SCHEMA), "facts": (facts_out, FACTS_SCHEMA)},
        {"format": FORMAT_VERSION, "data": str(Path(data).resolve()), "patches": len(contexts),
         "include_snow_cloud": include_snow_cloud, "chunk": CHUNK_PATCHES, **asdict(settings)},
    )  # fmt: skip
    jobs = [ChunkJob(str(data), i, chunk, settings) for i, chunk in enumerate(chunks)]
    sizes = [len(chunk) for chunk in chunks]
    skipped = output.run(run_chunk, jobs, sizes, workers=workers, scheduler=scheduler, progress=progress)
    rows = pq.ParquetFile(out).metadata.num_rows
    return GenerateSummary(len(contexts) - len(skipped), rows, skipped, out, facts_out)
