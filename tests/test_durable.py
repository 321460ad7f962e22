"""Renames of finished outputs: the data is on disk before the final name points at it."""

from __future__ import annotations

import os

import pytest

from landcover import faults


def test_durable_replace_fsyncs_file_then_renames_then_fsyncs_folder(tmp_path, monkeypatch):
    final = tmp_path / "map.tif"
    final.write_bytes(b"old")
    tmp = tmp_path / ".map.tif.part"
    tmp.write_bytes(b"new contents")
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        target = os.readlink(f"/proc/self/fd/{fd}")
        events.append(f"fsync {os.path.basename(target)}")
        real_fsync(fd)

    def replace(a, b):
        events.append(f"replace {os.path.basename(a)} -> {os.path.basename(b)}")
        real_replace(a, b)

    monkeypatch.setattr(faults.os, "fsync", fsync)
    monkeypatch.setattr(faults.os, "replace", replace)
    faults.durable_replace(tmp, final)
    assert events == ["fsync .map.tif.part", "replace .map.tif.part -> map.tif",
                      f"fsync {tmp_path.name}"]
    assert final.read_bytes() == b"new contents"
    assert not tmp.exists()


def test_durable_replace_of_a_missing_file_leaves_the_old_one(tmp_path):
    final = tmp_path / "summary.json"
    final.write_text("{}")
    with pytest.raises(FileNotFoundError):
        faults.durable_replace(tmp_path / ".summary.json.part", final)
    assert final.read_text() == "{}"


def test_replacing_renames_through_durable_replace(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(faults, "durable_replace",
                        lambda a, b: (calls.append((a, b)), os.replace(a, b)))
    out = tmp_path / "style.qml"
    with faults.replacing(out, "style") as tmp:
        tmp.write_text("<qgis/>")
    assert calls == [(tmp, out)] and out.read_text() == "<qgis/>"
