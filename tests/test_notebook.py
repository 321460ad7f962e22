"""notebooks/tour.ipynb executes against the sample (stand-in model) and is stored stripped."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "tour.ipynb"


def test_notebook_is_stored_without_outputs():
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.slow
def test_notebook_executes(tmp_path, standin_model, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    out = tmp_path / "tour"
    monkeypatch.setenv("LANDCOVER_TOUR_OUT", str(out))
    monkeypatch.setenv("LANDCOVER_TOUR_MODEL", str(standin_model))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel draws inline
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the maps, the change polygons
    text = "".join(o.get("text", "") for o in outputs)
    assert "polygons in ['deforestation', 'water_loss', 'water_gain', 'new_built']" in text
    assert (out / "project.qgz").exists() and (out / "report.html").exists()
