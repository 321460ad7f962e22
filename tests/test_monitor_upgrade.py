"""A monitoring job made with landcover-default 1.0.0 goes on with 1.1.0, on real scenes.

1.1.0 is 1.0.0's weights with a shift for L2A scenes only (docs/MODEL_CARD.md).  The
1.0.0 sidecar is rebuilt from the shipped one (version 1.0.0, no ``product_shift_dn``: the
only fields that decide maps and differ; the registry's 1.0.0 keys check that).  Real
inputs: the two L1C dates of the Mumbai sample.  The store is made to look like one made
before map keys were kept (no ``model_map_keys`` or ``scene_levels``), so the guard finds
1.0.0's keys in the registry.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from landcover.config import load_workflow
from landcover.model import ModelSpec, map_keys
from landcover.model_store import read_registry
from landcover.monitor.job import init_job, run_job
from landcover.testing import arrive_sample_date, copy_bundle, write_monitor_job

LAYERS = ("deforestation", "water_loss", "water_gain", "new_built")


def _alerts(store: Path) -> list[tuple]:
    with sqlite3.connect(store) as c:
        return [r for t in LAYERS for r in c.execute(
            f"SELECT alert_id, geom, area_ha, confidence, status FROM alerts_{t} "
            "ORDER BY alert_id")]


def _job(folder: Path, model: Path) -> Path:
    wf = write_monitor_job(folder, model, name="up")
    arrive_sample_date(folder, "20151130")
    init_job(load_workflow(wf))
    run_job(load_workflow(wf))
    return wf


def test_a_job_made_with_1_0_0_goes_on_with_1_1_0_on_l1c_scenes(tmp_path, default_model):
    spec = json.loads(default_model.read_text())
    assert spec["version"] == "1.1.0" and set(spec["product_shift_dn"]) == {"L2A"}
    v100 = copy_bundle(default_model, tmp_path / "m100", version="1.0.0",
                       product_shift_dn={})
    entry = {e.version: e for e in read_registry()}["1.0.0"]
    assert map_keys(ModelSpec.from_json(json.loads(v100.read_text()))) == entry.map_keys

    # the reference: 1.0.0 for both dates
    ref = _job(tmp_path / "ref", v100)
    arrive_sample_date(tmp_path / "ref", "20180319")
    run_job(load_workflow(ref))
    expected = _alerts(tmp_path / "ref" / "out" / "up-store.gpkg")
    assert expected, "the shipped model finds change between the two real dates"

    # a store made by 1.0.0 before map keys were kept, then 1.1.0
    wf = _job(tmp_path / "job", v100)
    store = tmp_path / "job" / "out" / "up-store.gpkg"
    with sqlite3.connect(store) as c:
        c.execute("DELETE FROM job WHERE key IN ('model_map_keys', 'scene_levels')")
    wf.write_text(wf.read_text().replace(str(v100), str(default_model)))
    arrive_sample_date(tmp_path / "job", "20180319")
    s = run_job(load_workflow(wf))
    assert s["status"] == "ok" and s["scenes"]["processed"] == 1
    old = f"landcover-default@1.0.0+{entry.weights_sha256[:12]}"
    assert s["model_carried_over"] == {"from": old, "levels": ["L1C"]}
    assert s["model_version"].startswith("landcover-default@1.1.0+")
    assert _alerts(store) == expected  # the same alerts, to the byte
    with sqlite3.connect(store) as c:
        meta = dict(c.execute("SELECT key, value FROM job"))
    assert json.loads(meta["scene_levels"]) == {"classified": 2, "levels": ["L1C"]}
    assert json.loads(meta["model_map_keys"]) == {
        "model_version": s["model_version"], "keys": map_keys(ModelSpec.from_json(spec))}
