"""Model storage (docs/MODELS.md): one current bundle in data/, others found offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from landcover.errors import ModelError
from landcover.model import load_bundle, sha256_file
from landcover.model_store import REGISTRY, REPO_MODELS, find_bundles, read_registry
from landcover.plan import resolve_model_path
from landcover.testing import copy_bundle

REPO = Path(__file__).resolve().parents[1]
MAX_DATA_BYTES = 25 * 10**6


def test_data_folder_holds_one_bundle_and_at_most_25_mb():
    total = sum(p.stat().st_size for p in (REPO / "data").rglob("*") if p.is_file())
    assert total <= MAX_DATA_BYTES, f"data/ holds {total / 1e6:.1f} MB; see docs/MODELS.md"
    bundles = find_bundles([REPO_MODELS])
    assert [b.ref for b in bundles] == ["landcover-default@1.1.0"]


def test_registry_lists_the_shipped_bundle_as_current():
    shipped = find_bundles([REPO_MODELS], verify=True)[0]
    assert shipped.verified is True
    entries = read_registry()
    current = [e for e in entries if e.status == "current"]
    assert [e.ref for e in current] == [shipped.ref]
    assert current[0].weights_sha256 == shipped.weights_sha256
    weights = shipped.sidecar.with_suffix(".safetensors")
    assert current[0].size_bytes == weights.stat().st_size
    assert len({e.ref for e in entries}) == len(entries)  # one entry per release
    assert json.loads(REGISTRY.read_text())["format_version"] == 1


def test_map_keys_tell_which_scenes_a_release_changes():
    """landcover-default 1.1.0 is 1.0.0's weights and a shift for L2A: the same L1C maps
    (key equal), other L2A maps (key differs); the registry holds both releases' keys."""
    from dataclasses import replace

    from landcover.model import ModelSpec, map_key, map_keys

    shipped = ModelSpec.from_json(json.loads((REPO_MODELS / "landcover-default.json")
                                             .read_text()))
    v100 = replace(shipped, version="1.0.0", product_shift_dn={}, notes="", metrics={})
    assert map_key(v100, "L1C") == map_key(shipped, "L1C")
    assert map_key(v100, "L2A") != map_key(shipped, "L2A")
    assert map_key(v100, "L2A") == map_key(v100, "L1C")  # no shift: one behaviour
    by_version = {e.version: e.map_keys for e in read_registry()}
    assert by_version == {"1.0.0": map_keys(v100), "1.1.0": map_keys(shipped)}
    # what describes a model does not count; what decides its maps does
    for change in ({"name": "x"}, {"colors": ("#000000",) * 9}, {"training": {"a": 1}}):
        assert map_keys(replace(shipped, **change)) == map_keys(shipped)
    for change in ({"weights_sha256": "0" * 64}, {"halo": 16}, {"tile_size": 256},
                   {"norm_mean": (6.0,) * 10}, {"bands": shipped.bands[::-1]}):
        assert map_key(replace(shipped, **change), "L1C") != map_key(shipped, "L1C")
    with pytest.raises(ValueError, match="L3"):
        map_key(shipped, "L3")


def test_bundles_in_landcover_models_are_found_by_name(tmp_path, monkeypatch, standin_model):
    models = tmp_path / "models"
    a = copy_bundle(standin_model, models / "standin-0.1.0", version="0.1.0")
    b = copy_bundle(standin_model, models / "standin-0.2.0", version="0.2.0")
    monkeypatch.setenv("LANDCOVER_MODELS", os.pathsep.join([str(models), str(tmp_path / "no")]))
    assert resolve_model_path("standin@0.1.0") == a
    assert resolve_model_path("standin") == b  # the highest version of the first folder
    assert resolve_model_path("landcover-default@1.1.0") == REPO_MODELS / \
        "landcover-default.json"
    assert load_bundle(resolve_model_path("standin@0.1.0")).spec.version == "0.1.0"
    with pytest.raises(ModelError, match=r"'standin@9' not found \(bundles here: standin@0.1.0"):
        resolve_model_path("standin@9")
    with pytest.raises(ModelError, match=r"landcover-default@0.9.0' not found.*LANDCOVER_MODELS"):
        resolve_model_path("landcover-default@0.9.0")
    with pytest.raises(ModelError, match=r"landcover-default@1.0.0' not found.*git show"):
        resolve_model_path("landcover-default@1.0.0")  # released: where to get it
    # a path still wins: a file of that name in the working directory
    assert resolve_model_path(str(a)) == a


def test_models_list_verifies_hashes(tmp_path, standin_model):
    models = tmp_path / "models"
    good = copy_bundle(standin_model, models / "good", version="0.1.0")
    bad = copy_bundle(standin_model, models / "bad", version="0.3.0")
    with open(bad.with_suffix(".safetensors"), "r+b") as f:  # corrupt one byte
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 0xFF]))
    env = {**os.environ, "LANDCOVER_MODELS": str(models),
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-m", "landcover", "models", "list", "--json"],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    got = {b["ref"]: b for b in doc["bundles"]}
    assert set(got) == {"standin@0.1.0", "standin@0.3.0", "landcover-default@1.1.0"}
    assert got["standin@0.1.0"]["verified"] is True
    assert got["standin@0.3.0"]["verified"] is False
    assert got["landcover-default@1.1.0"]["verified"] is True
    assert got["standin@0.1.0"]["weights_sha256"] == sha256_file(good.with_suffix(
        ".safetensors"))
    assert doc["search"][0] == str(models)
    # the one earlier release: the same weights as 1.1.0, its sidecar in the git history
    assert [n["ref"] for n in doc["not_here"]] == ["landcover-default@1.0.0"]
    assert "git show" in doc["not_here"][0]["source"]
    r = subprocess.run([sys.executable, "-m", "landcover", "models", "list"],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0 and "MISMATCH" in r.stdout and " ok " in r.stdout
