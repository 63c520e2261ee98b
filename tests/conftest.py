"""Shared fixtures: paths to the shared real data and the embedded model (skip only when it was not fetched)."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REAL_DATA = SHARED / "data" / "real"


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not REAL_DATA.is_dir():
        pytest.skip(f"shared real data not found at {REAL_DATA}")
    return REAL_DATA


@pytest.fixture(scope="session")
def embedded_model() -> dict:
    from zerops.errors import ZeropsError
    from zerops.segmenters.weights import embedded_paths

    try:
        return embedded_paths()
    except ZeropsError as exc:
        pytest.skip(str(exc))


@pytest.fixture(autouse=True, scope="session")
def _private_stage_cache(tmp_path_factory):
    """CLI runs in tests use a fresh stage cache, never the user's ~/.cache/zerops/stages."""
    import os

    old = os.environ.get("ZEROPS_CACHE")
    os.environ["ZEROPS_CACHE"] = str(tmp_path_factory.mktemp("stage-cache"))
    yield
    if old is None:
        os.environ.pop("ZEROPS_CACHE", None)
    else:
        os.environ["ZEROPS_CACHE"] = old
