"""Open a landcover run's outputs in real QGIS and print what QGIS sees, as JSON.

Runs under the system Python that owns the QGIS bindings (/usr/bin/python3),
headless (QT_QPA_PLATFORM=offscreen):

    python3 check_outputs.py OUT_DIR [--render PNG]

Every layer and render job is deleted before exitQgis() (QGIS segfaults at
exit otherwise).
"""

import argparse
import collections
import glob
import json
import os
import sys
import zipfile

from qgis.core import (
    QgsApplication,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor, QImage


def raster_info(layer):
    r = layer.renderer()
    dp = layer.dataProvider()
    info = {"valid": layer.isValid(), "crs": layer.crs().authid(),
            "width": layer.width(), "height": layer.height(),
            "renderer": r.type() if r else None,
            "nodata": dp.sourceNoDataValue(1) if dp.sourceHasNoDataValue(1) else None}
    if r is not None and r.type() == "paletted":
        info["classes"] = [[c.value, c.color.name(), c.color.alpha(), c.label]
                           for c in r.classes()]
    if r is not None:
        info["legend"] = [[lab, col.name()] for lab, col in r.legendSymbologyItems()]
    return info


def vector_info(layer):
    r = layer.renderer()
    info = {"valid": layer.isValid(), "crs": layer.crs().authid(),
            "count": layer.featureCount(), "renderer": r.type() if r else None,
            "aliases": {f.name(): layer.attributeAlias(i)
                        for i, f in enumerate(layer.fields())}}
    if r is not None and r.type() == "categorizedSymbol":
        info["attr"] = r.classAttribute()
        info["categories"] = [[str(c.value()), c.symbol().color().name(), c.label()]
                              for c in r.categories()]
    n, ids, names, descs, err = layer.listStylesInDatabase()
    info["db_styles"] = sorted(set(names))
    return info


def render(project, path, size=800):
    root = project.layerTreeRoot()
    layers = [lyr for lyr in root.layerOrder()
              if root.findLayer(lyr.id()) is not None and root.findLayer(lyr.id()).isVisible()]
    ms = QgsMapSettings()
    ms.setLayers(layers)
    ms.setDestinationCrs(project.crs())
    ext = project.viewSettings().defaultViewExtent()
    ms.setExtent(ext if not ext.isEmpty() else project.layerTreeRoot().layerOrder()[0].extent())
    ms.setOutputSize(QSize(size, size))
    ms.setBackgroundColor(QColor("white"))
    job = QgsMapRendererSequentialJob(ms)
    job.start()
    job.waitForFinished()
    img = job.renderedImage().convertToFormat(QImage.Format_RGB32)
    del job
    img.save(path)
    ptr = img.constBits()
    ptr.setsize(img.sizeInBytes())
    px = memoryview(bytes(ptr)).cast("I")
    counts = collections.Counter(px)
    colors = {"#%06x" % (v & 0xFFFFFF): c for v, c in counts.most_common(64)}
    return {"path": path, "layers": [lyr.name() for lyr in layers], "colors": colors,
            "pixels": len(px)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--render")
    args = ap.parse_args()
    out = os.path.abspath(args.out_dir)
    app = QgsApplication([], False)
    app.initQgis()
    result = {"qgis": __import__("qgis.core", fromlist=["Qgis"]).Qgis.version(),
              "rasters": {}, "vectors": {}}
    try:
        for tif in sorted(glob.glob(os.path.join(out, "*.tif"))):
            lyr = QgsRasterLayer(tif, os.path.basename(tif))
            result["rasters"][os.path.basename(tif)] = raster_info(lyr)
            del lyr
        for gpkg in sorted(glob.glob(os.path.join(out, "*.gpkg"))):
            probe = QgsVectorLayer(gpkg, "probe", "ogr")
            names = [s.split("!!::!!")[1] for s in probe.dataProvider().subLayers()]
            del probe
            for name in names:
                lyr = QgsVectorLayer(f"{gpkg}|layername={name}", name, "ogr")
                if lyr.isValid() and lyr.isSpatial():
                    result["vectors"][name] = vector_info(lyr)
                del lyr
        qgz = os.path.join(out, "project.qgz")
        if os.path.exists(qgz):
            with zipfile.ZipFile(qgz) as z:
                qgs = [n for n in z.namelist() if n.endswith(".qgs")][0]
                xml = z.read(qgs).decode("utf-8")
            p = QgsProject.instance()
            ok = p.read(qgz)
            root = p.layerTreeRoot()
            info = {"read": ok, "crs": p.crs().authid(),
                    "absolute_paths": p.readBoolEntry("Paths", "/Absolute", True)[0],
                    "relative_in_xml": "<datasource>./" in xml and out not in xml,
                    "groups": [[g.name(), [c.name() for c in g.children()]]
                               for g in root.children()],
                    "layers": []}
            ext = p.viewSettings().defaultViewExtent()
            info["view_extent"] = [ext.xMinimum(), ext.yMinimum(), ext.xMaximum(),
                                   ext.yMaximum()]
            for lyr in p.mapLayers().values():
                r = lyr.renderer() if hasattr(lyr, "renderer") else None
                d = {"name": lyr.name(), "valid": lyr.isValid(), "crs": lyr.crs().authid(),
                     "renderer": r.type() if r else None, "source": lyr.source()}
                if isinstance(lyr, QgsVectorLayer):
                    d["count"] = lyr.featureCount()
                    if r is not None and r.type() == "categorizedSymbol":
                        d["categories"] = [[str(c.value()), c.symbol().color().name()]
                                           for c in r.categories()]
                elif r is not None and r.type() == "paletted":
                    d["labels"] = [c.label for c in r.classes()]
                info["layers"].append(d)
            if args.render:
                info["render"] = render(p, args.render)
            result["project"] = info
            p.removeAllMapLayers()
            p.clear()
    finally:
        print(json.dumps(result))
        sys.stdout.flush()
        app.exitQgis()


if __name__ == "__main__":
    main()
