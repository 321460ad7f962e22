"""The real sample scenes as remote COGs: one tiled COG per band, a STAC ItemCollection
whose hrefs point at a :class:`rangeserver.RangeServer`, and a workflow reading it.

The pixels are the real Sentinel-2 L1C DN of ``data/sample/mumbai`` (OSCD, Copernicus
data), split per band (the STAC source reads band 1 of each asset) and rewritten as
COGs (256 px blocks, DEFLATE, overviews); nothing is altered.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
import rasterio.warp

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "mumbai"
SAMPLE_WF = REPO / "workflows" / "sample.yaml"
#: a query string shaped like a signed URL's token: it must never reach a log or output
TOKEN = "se=2026-12-31&sig=SECRETTOKEN0123456789"


def write_band_cogs(folder: Path) -> list[Path]:
    """Every band of the sample as its own COG: ``mumbai_<date>_<band>.tif``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for src_path in sorted(SAMPLE.glob("mumbai_*_*m.tif")):
        date = src_path.stem.split("_")[1]
        with rasterio.open(src_path) as src:
            for i, band in enumerate(src.descriptions, start=1):
                dst = folder / f"mumbai_{date}_{band}.tif"
                tmp = folder / f".{dst.name}.gtiff"
                profile = {**src.profile, "count": 1, "driver": "GTiff"}
                with rasterio.open(tmp, "w", **profile) as t:
                    t.write(src.read(i), 1)
                    t.set_band_description(1, band)
                    t.update_tags(**src.tags())
                rasterio.shutil.copy(tmp, dst, driver="COG", COMPRESS="DEFLATE",
                                     BLOCKSIZE=256, OVERVIEWS="AUTO")
                tmp.unlink()
                out.append(dst)
    return out


def write_item_collection(path: Path, folder: Path, url) -> Path:
    """A STAC ItemCollection, one item per date, one asset per band file in ``folder``;
    ``url(name)`` gives each asset's href."""
    items = []
    for date in sorted({p.stem.split("_")[1] for p in folder.glob("mumbai_*_B*.tif")}):
        files = sorted(folder.glob(f"mumbai_{date}_*.tif"))
        with rasterio.open(files[0]) as ds:
            b = rasterio.warp.transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
        when = dt.datetime.strptime(date, "%Y%m%d").replace(hour=5, minute=30)
        items.append({
            "type": "Feature", "stac_version": "1.0.0", "id": f"S2_mumbai_{date}",
            "collection": "sentinel-2-l1c",
            "bbox": list(b),
            "geometry": {"type": "Polygon", "coordinates": [[
                [b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]], [b[0], b[1]]]]},
            "properties": {"datetime": when.isoformat() + "Z", "s2:product_type": "S2MSI1C"},
            "links": [],
            "assets": {f.stem.split("_")[2]: {
                "href": url(f.name), "type": "image/tiff; application=geotiff; "
                "profile=cloud-optimized", "roles": ["data"]} for f in files},
        })
    path.write_text(json.dumps({"type": "FeatureCollection", "features": items}, indent=1))
    return path


def write_workflow(path: Path, source_type: str, source_path: Path) -> Path:
    """The sample workflow with another source."""
    text = SAMPLE_WF.read_text()
    text = text.replace("  type: folder\n", f"  type: {source_type}\n")
    text = text.replace("  path: ../data/sample/mumbai       # relative to this file\n",
                        f"  path: {source_path}\n")
    assert str(source_path) in text
    path.write_text(text)
    return path


def read_maps(folder: Path) -> dict[str, np.ndarray]:
    """The pixels of every COG of a run."""
    out = {}
    for p in sorted(folder.glob("*.tif")):
        with rasterio.open(p) as ds:
            out[p.name] = ds.read()
    return out


def polygons(gpkg: Path) -> dict[str, list]:
    """Per change layer: each feature's WKB and attributes, the run id left out."""
    import pyogrio

    out = {}
    for layer in ("deforestation", "water_loss", "water_gain"):
        df = pyogrio.read_dataframe(gpkg, layer=layer)
        wkb = list(df.geometry.to_wkb())
        rows = df.drop(columns=["run_id", "geometry"]).to_dict("records")
        out[layer] = list(zip(wkb, [sorted(r.items()) for r in rows], strict=True))
    return out
