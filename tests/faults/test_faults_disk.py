"""A full disk, a read-only output folder, an output path that is a file: one line on
stderr naming the path and the cause, the right exit code, nothing partial under a final
name (and nothing at all written when the folder is unusable from the start)."""

from __future__ import annotations

import errno
import os
import re
import sqlite3
import subprocess

import pytest
from faultkit import check_finals, run_sample, stderr_lines, temporaries

pytestmark = pytest.mark.faults

FULL = re.compile(r"^error: cannot write (\S+): no space left on device$")


def _mount_tmpfs(mnt, options: str) -> None:
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(size)``: a fresh tmpfs of that size, unmounted afterwards."""
    mounted = []

    def make(size: str):
        mnt = tmp_path / f"disk{len(mounted)}"
        _mount_tmpfs(mnt, f"size={size}")
        mounted.append(mnt)
        return mnt

    yield make
    for mnt in mounted:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


# sizes where the sample's run fails while writing its first map and its change GeoPackage
# (the outputs total ~1.4 MB; 700k fails in the second date's maps, LANDCOVER_FAULT_DISKS
# adds sizes); -v once: the traceback then goes to stderr
SIZES = [("300k", True), ("1100k", False)] + [
    (s, False) for s in os.environ.get("LANDCOVER_FAULT_DISKS", "").split(",") if s]


@pytest.mark.parametrize("size,verbose", SIZES)
def test_disk_full(small_disk, reference, size, verbose, record_property):
    out = small_disk(size)
    res = run_sample(out, *(["-v"] if verbose else []))
    assert res.returncode == 1, res.stderr[-3000:]
    lines = stderr_lines(res.stderr)
    m = FULL.match(lines[-1])
    assert m, res.stderr[-3000:]
    path = m.group(1)
    # the file being written; the folder when the failure surfaced outside a wrapped write
    assert path == str(out) or path.startswith(str(out) + "/"), path
    if verbose:
        assert "Traceback" in res.stderr
    else:
        assert len(lines) == 1, res.stderr  # no traceback, no GDAL/libtiff messages
    assert "Traceback" in (out / "run.log").read_text()  # the details are in the log
    record_property("failed_on", os.path.basename(path))
    record_property("finals_checked", check_finals(out, reference))
    assert temporaries(out) == []


def test_read_only_output_folder(tmp_path):
    out = tmp_path / "ro"
    if os.geteuid() == 0:  # root writes through chmod: a read-only file system instead
        _mount_tmpfs(out, "ro,size=64k")
        cause = "Read-only file system"
    else:
        out.mkdir()
        out.chmod(0o555)
        cause = "Permission denied"
    try:
        res = run_sample(out)
        listing = os.listdir(out)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", "-l", str(out)], check=False)
        else:
            out.chmod(0o755)
    assert res.returncode == 2, res.stderr
    lines = stderr_lines(res.stderr)
    assert lines == [f"error: cannot write to output folder {out} ({cause}); give a "
                     "writable --out"], res.stderr
    assert listing == []


def test_output_path_is_a_file(tmp_path):
    out = tmp_path / "afile"
    out.write_text("keep me\n")
    res = run_sample(out)
    assert res.returncode == 2, res.stderr
    assert stderr_lines(res.stderr) == [f"error: output.dir {out} is a file; give a folder"]
    assert out.read_text() == "keep me\n"
    assert sorted(os.listdir(tmp_path)) == ["afile"]


def test_write_error_names_the_cause(tmp_path):
    """The causes as they reach landcover: errno, sqlite's words, GDAL's words."""
    from landcover.errors import OutputWriteError
    from landcover.faults import write_error, writing

    p = tmp_path / "x.tif"
    cases = [(OSError(errno.ENOSPC, "No space left on device"), "no space left on device"),
             (PermissionError(errno.EACCES, "Permission denied", str(p)), "permission denied"),
             (sqlite3.OperationalError("database or disk is full"), "no space left on device"),
             (OSError(errno.EROFS, "Read-only file system"), "read-only file system")]
    for exc, cause in cases:
        err = write_error(exc, p)
        assert isinstance(err, OutputWriteError) and err.cause == cause
        assert str(err) == f"cannot write {p}: {cause}"
    assert write_error(TypeError("a bug"), p) is None
    assert write_error(OSError(errno.ENOENT, "No such file"), p) is None  # disk not full
    tmp = tmp_path / ".x.tif.part"
    tmp.write_text("partial")
    with pytest.raises(OutputWriteError, match="no space left on device"), writing(p, tmp):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert not tmp.exists()


def test_teacher_labels_on_a_full_disk(small_disk, shared_data):
    """``landcover teach`` (and training's ``teacher_scenes``, which writes through the same
    function) on a full disk: one line naming the folder and the cause, exit 1, no file."""
    import sys

    out = small_disk("64k")
    chip = shared_data / "sen1floods11" / "unlabelled" / "USA_430764_S2Hand.tif"
    res = subprocess.run([sys.executable, "-m", "landcover", "teach", str(chip), "--out",
                          str(out / "teacher")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 1, res.stderr[-3000:]
    assert stderr_lines(res.stderr)[-1] == \
        f"error: cannot write {out / 'teacher'}: no space left on device", res.stderr[-3000:]
    assert os.listdir(out / "teacher") == []
