"""Drive the landcover Processing provider inside QGIS (not qgis_process) and print JSON.

    python3 run_plugin.py load   SOURCE OUT MODEL   # runAndLoadResults: what QGIS loads
    python3 run_plugin.py cancel SOURCE OUT MODEL   # cancel at the first progress report

Runs under /usr/bin/python3 with QT_QPA_PLATFORM=offscreen; needs QGIS_PLUGINPATH (the
repo's qgis_plugin folder) and LANDCOVER_CLI.
"""

import json
import os
import sys

from qgis.core import (
    QgsApplication,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProject,
)

sys.path.append("/usr/share/qgis/python/plugins")
for p in os.environ.get("QGIS_PLUGINPATH", "").split(os.pathsep):
    if p:
        sys.path.insert(0, p)


class CancelAtFirstProgress(QgsProcessingFeedback):
    def __init__(self):
        super().__init__()
        self.progress_seen = []
        self.progressChanged.connect(self._on_progress)

    def _on_progress(self, value):
        self.progress_seen.append(value)
        if value > 0 and not self.isCanceled():
            self.cancel()


def main():
    mode, source, out, model = sys.argv[1:5]
    app = QgsApplication([], False)
    app.initQgis()
    result = {"mode": mode}
    try:
        from processing.core.Processing import Processing

        Processing.initialize()
        import landcover as plugin_pkg  # the plugin package (qgis_plugin/landcover)

        plugin = plugin_pkg.classFactory(None)
        plugin.initProcessing()
        import processing

        params = {"SOURCE": source, "EXTENT": "72.905,72.935,19.03,19.06 [EPSG:4326]",
                  "BEFORE": "2015-11", "AFTER": "2018-03", "MODEL": model,
                  "MIN_AREA_HA": 0, "OUTPUT": out}
        if mode == "load":
            res = processing.runAndLoadResults("landcover:classify", params,
                                               feedback=QgsProcessingFeedback())
            result["results"] = {k: v for k, v in res.items() if isinstance(v, (str, list))}
            layers = []
            for lyr in QgsProject.instance().mapLayers().values():
                r = lyr.renderer()
                d = {"name": lyr.name(), "valid": lyr.isValid(),
                     "renderer": r.type() if r else None}
                if r is not None and r.type() == "paletted":
                    d["labels"] = [c.label for c in r.classes()]
                if r is not None and r.type() == "categorizedSymbol":
                    d["categories"] = [[str(c.value()), c.symbol().color().name()]
                                       for c in r.categories()]
                layers.append(d)
            result["layers"] = layers
        else:
            fb = CancelAtFirstProgress()
            try:
                processing.run("landcover:classify", params, feedback=fb)
                result["error"] = None
            except QgsProcessingException as exc:
                result["error"] = str(exc)
            result["progress"] = fb.progress_seen
            result["files"] = sorted(os.listdir(out)) if os.path.isdir(out) else []
        plugin.unload()
        QgsProject.instance().removeAllMapLayers()
        QgsProject.instance().clear()
    finally:
        print(json.dumps(result))
        sys.stdout.flush()
        app.exitQgis()


if __name__ == "__main__":
    main()
