"""Shared fixtures: the real reBEN reference files (if present) and small mini-reBENs made once per session."""

import os
from pathlib import Path

import pytest

REFERENCE = Path(
    os.environ.get("BIGEARTH_REBEN_REFERENCE", Path(__file__).resolve().parents[1] / ".." / "shared" / "reben")
)


@pytest.fixture(scope="session")
def reference() -> Path:
    """The real reBEN reference folder; tests that need it skip where it is absent."""
    if not (REFERENCE / "metadata.parquet").is_file():
        pytest.skip(f"the real reBEN reference files are absent ({REFERENCE}); set BIGEARTH_REBEN_REFERENCE")
    return REFERENCE.resolve()


@pytest.fixture(scope="session")
def mini_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic mini-reBEN release (official layout), made once per test session."""
    from bigearth.data.synth import synthesize

    root = tmp_path_factory.mktemp("mini") / "release"
    synthesize(root, patches=120, seed=7)
    return root


@pytest.fixture(scope="session")
def mini_store(mini_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store encoded from :func:`mini_root`."""
    from bigearth.data.encode import encode

    store = tmp_path_factory.mktemp("mini") / "store"
    encode(mini_root, store, workers=0)
    return store
