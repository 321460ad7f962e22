"""Processing algorithms that call the landcover CLI and load its outputs styled."""

import json
import re
from pathlib import Path

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputMultipleLayers,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsRasterLayer,
    QgsVectorLayer,
)

from .runner import CliNotFound, find_cli, run_cli

_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?(/\d{4}(-\d{2}(-\d{2})?)?)?$")


def _load_on_completion(context, path, name, output_name):
    """Load ``path`` into the project when the algorithm ends, with its default style.

    The layer is opened here (QGIS then reads its default style: the .qml sidecar of
    a raster, the default row of a GeoPackage's layer_styles) and handed over through
    the context's temporary layer store, so Processing loads it as it is.
    """
    if "|layername=" in path:
        layer = QgsVectorLayer(path, name, "ogr")
    else:
        layer = QgsRasterLayer(path, name, "gdal")
    if not layer.isValid():
        raise QgsProcessingException(f"QGIS cannot open {path}")
    context.temporaryLayerStore().addMapLayer(layer)
    details = QgsProcessingContext.LayerDetails(name, context.project(), output_name)
    details.forceName = True
    context.addLayerToLoadOnCompletion(layer.id(), details)


def _gpkg_layer_uris(gpkg):
    """``path|layername=NAME`` of the feature layers of a GeoPackage (via OGR)."""
    from osgeo import ogr

    ds = ogr.Open(str(gpkg))
    if ds is None:
        return []
    out = []
    for i in range(ds.GetLayerCount()):
        lyr = ds.GetLayerByIndex(i)
        if lyr.GetGeomType() != ogr.wkbNone:
            out.append((lyr.GetName(), f"{gpkg}|layername={lyr.GetName()}"))
    ds = None
    return out


class _Base(QgsProcessingAlgorithm):
    def group(self):
        return ""

    def groupId(self):  # noqa: N802
        return ""

    def createInstance(self):  # noqa: N802
        return type(self)()

    def _cli(self):
        try:
            return find_cli()
        except CliNotFound as exc:
            raise QgsProcessingException(str(exc)) from None

    def _run(self, args, feedback, *, steps=1, cwd=None, quiet=False):
        feedback.pushCommandInfo(" ".join(str(a) for a in args))
        rc, lines = run_cli([str(a) for a in args],
                            log=(lambda _line: None) if quiet else feedback.pushConsoleInfo,
                            progress=feedback.setProgress, canceled=feedback.isCanceled,
                            steps=steps, cwd=cwd)
        if feedback.isCanceled():
            raise QgsProcessingException("canceled; landcover left no partial output")
        if rc != 0:
            tail = "\n".join(lines[-5:])
            raise QgsProcessingException(f"landcover failed (exit code {rc}):\n{tail}")
        return lines


class ClassifyAlgorithm(_Base):
    """Classify land cover for one or two dates (and map change between them)."""

    def name(self):
        return "classify"

    def displayName(self):  # noqa: N802
        return "Classify land cover"

    def shortHelpString(self):  # noqa: N802
        return ("Classifies Sentinel-2 scenes of a folder into Dynamic World's nine land-cover "
                "classes over a region (an extent, or a layer's extent), for one date or two; "
                "with two dates it also maps change polygons. Runs the installed landcover "
                "command ('landcover run'), so QGIS's Python needs no torch. Writes one COG "
                "per date with a .qml style, change.gpkg with its styles, project.qgz, "
                "report.html and summary.json into the output folder, and loads them styled.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFile(
            "SOURCE", "Scene folder (Sentinel-2 L1C GeoTIFFs or JP2; a STAC .json path works too)",
            behavior=QgsProcessingParameterFile.Folder))
        self.addParameter(QgsProcessingParameterExtent(
            "EXTENT", "Region (an extent, or a layer to take its extent from)"))
        self.addParameter(QgsProcessingParameterString(
            "BEFORE", "Date (YYYY, YYYY-MM, YYYY-MM-DD or START/END)"))
        self.addParameter(QgsProcessingParameterString(
            "AFTER", "Second date (optional; with it, change is mapped)", optional=True))
        self.addParameter(QgsProcessingParameterFile(
            "MODEL", "Model bundle (.json); empty: the shipped model",
            extension="json", optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            "MIN_AREA_HA", "Minimum change polygon area (ha)",
            type=QgsProcessingParameterNumber.Double, defaultValue=0.5, minValue=0.0))
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT", "Output folder"))
        self.addOutput(QgsProcessingOutputFile("PROJECT", "QGIS project"))
        self.addOutput(QgsProcessingOutputFile("REPORT", "Run report"))
        self.addOutput(QgsProcessingOutputFile("CHANGE", "Change GeoPackage"))
        self.addOutput(QgsProcessingOutputMultipleLayers("LAYERS", "Layers"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        cli = self._cli()
        source = self.parameterAsFile(parameters, "SOURCE", context)
        extent = self.parameterAsExtent(parameters, "EXTENT", context)
        crs = self.parameterAsExtentCrs(parameters, "EXTENT", context)
        before = self.parameterAsString(parameters, "BEFORE", context).strip()
        after = (self.parameterAsString(parameters, "AFTER", context) or "").strip()
        model = self.parameterAsFile(parameters, "MODEL", context) or "default"
        min_area = self.parameterAsDouble(parameters, "MIN_AREA_HA", context)
        out = Path(self.parameterAsString(parameters, "OUTPUT", context))
        for d in (before, after):
            if d and not _DATE.match(d):
                raise QgsProcessingException(
                    f"date {d!r}: use YYYY, YYYY-MM, YYYY-MM-DD or START/END")
        if extent.isEmpty():
            raise QgsProcessingException("the region is empty; give an extent or a layer")
        crs_text = crs.authid() if crs.isValid() and crs.authid() else crs.toWkt()
        if not crs_text:
            raise QgsProcessingException("the region has no CRS; set the layer's CRS")
        dates = {"before": before, "after": after} if after else {"before": before}
        workflow = {
            "name": "qgis-classify",
            "region": {"bbox": [extent.xMinimum(), extent.yMinimum(), extent.xMaximum(),
                                extent.yMaximum()], "crs": crs_text},
            "dates": dates,
            "source": {"type": "stac" if source.lower().endswith(".json") else "folder",
                       "path": source},
            "model": model,
            "change": {"min_area_ha": min_area},
            "output": {"dir": str(out), "probabilities": True},
        }
        out.mkdir(parents=True, exist_ok=True)
        wf_path = out / "workflow.yaml"  # JSON is YAML: no yaml module needed in QGIS
        wf_path.write_text(json.dumps(workflow, indent=2) + "\n")
        self._run([cli, "run", wf_path], feedback, steps=len(dates) + (1 if after else 0))
        return self._outputs(out, context)

    def _outputs(self, out, context):
        summary = json.loads((out / "summary.json").read_text())
        layers = []
        for label, m in summary.get("maps", {}).items():
            path = str(out / m["path"])
            _load_on_completion(context, path, f"land cover {label} {m['date']}", "LAYERS")
            layers.append(path)
        change = None
        if summary.get("change_path"):
            change = str(out / summary["change_path"])
            for name, uri in _gpkg_layer_uris(change):
                _load_on_completion(context, uri, name, "LAYERS")
                layers.append(uri)
        outputs = summary.get("outputs", {})
        return {
            "OUTPUT": str(out), "LAYERS": layers, "CHANGE": change,
            "PROJECT": str(out / outputs["project"]) if "project" in outputs else None,
            "REPORT": str(out / outputs["report"]) if "report" in outputs else None,
        }


#: the "Change test" choices (index 1 passes ``--argmax``)
CHANGE_TESTS = ["measured rules (probabilities, edge test, opening)",
                "argmax (class against class, no filter)"]


def _beside(map_source: str, kind: str):
    """The ``kind`` COG a run wrote beside ``landcover_<label>_<date>.tif`` (or None)."""
    path = Path(map_source)
    if not path.name.startswith("landcover_"):
        return None
    other = path.with_name(kind + path.name[len("landcover"):])
    return str(other) if other.exists() else None


class DetectChangeAlgorithm(_Base):
    """Change polygons between two land-cover maps ('landcover change')."""

    def name(self):
        return "detectchange"

    def displayName(self):  # noqa: N802
        return "Detect change"

    def shortHelpString(self):  # noqa: N802
        return ("Compares two land-cover maps of one grid (from 'Classify land cover' or "
                "'landcover classify') and writes change polygons (deforestation, water loss, "
                "water gain, new built-up) with equal-area hectares to a GeoPackage, styled by "
                "change type (default style stored in the GeoPackage). The measured rules use "
                "the per-class probability COGs found beside the maps (probabilities_*.tif, "
                "written by two-date runs and 'classify --probabilities all'), else the "
                "confidence COGs; 'argmax' compares classes only (the former rule).")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("BEFORE", "Land-cover map, first date"))
        self.addParameter(QgsProcessingParameterRasterLayer("AFTER", "Land-cover map, second date"))
        self.addParameter(QgsProcessingParameterNumber(
            "MIN_AREA_HA", "Minimum polygon area (ha)",
            type=QgsProcessingParameterNumber.Double, defaultValue=0.5, minValue=0.0))
        self.addParameter(QgsProcessingParameterEnum(
            "RULE", "Change test", options=CHANGE_TESTS, defaultValue=0))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT", "Change GeoPackage", fileFilter="GeoPackage (*.gpkg)"))
        self.addOutput(QgsProcessingOutputMultipleLayers("LAYERS", "Change layers"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        cli = self._cli()
        before = self.parameterAsRasterLayer(parameters, "BEFORE", context)
        after = self.parameterAsRasterLayer(parameters, "AFTER", context)
        if before is None or after is None:
            raise QgsProcessingException("give two land-cover maps")
        out = self.parameterAsFileOutput(parameters, "OUTPUT", context)
        args = [cli, "change", before.source(), after.source(), "--out", out,
                "--min-area-ha", self.parameterAsDouble(parameters, "MIN_AREA_HA", context)]
        if self.parameterAsEnum(parameters, "RULE", context) == 1:
            args.append("--argmax")
        for label, lyr in (("before", before), ("after", after)):
            for kind in ("confidence", "probabilities"):
                found = _beside(lyr.source(), kind)
                if found is not None:
                    args += [f"--{label}-{kind}", found]
        self._run(args, feedback)  # 'landcover change' stores the default styles itself
        layers = []
        for name, uri in _gpkg_layer_uris(out):
            _load_on_completion(context, uri, name, "LAYERS")
            layers.append(uri)
        return {"OUTPUT": out, "LAYERS": layers}


class MonitorAlgorithm(_Base):
    """Run a monitoring job ('landcover monitor run WORKFLOW')."""

    def name(self):
        return "monitor"

    def displayName(self):  # noqa: N802
        return "Run monitoring job"

    def shortHelpString(self):  # noqa: N802
        return ("Runs one step of a scheduled monitoring job: 'landcover monitor init "
                "WORKFLOW' (idempotent) then 'landcover monitor run WORKFLOW' (the scenes "
                "not seen yet; alerts with their lifecycle, unconfirmed -> confirmed or "
                "rejected). Relative paths of the job (its "
                "store, output folder) resolve from the working folder (default: the "
                "workflow's folder). A GeoPackage store gets its default styles (by change "
                "type; also by status and confidence tier) and its layers are loaded.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFile(
            "WORKFLOW", "Monitoring workflow (.yaml)", extension="yaml"))
        self.addParameter(QgsProcessingParameterFile(
            "FOLDER", "Working folder (default: the workflow's folder)",
            behavior=QgsProcessingParameterFile.Folder, optional=True))
        self.addOutput(QgsProcessingOutputFile("STORE", "Alert store"))
        self.addOutput(QgsProcessingOutputMultipleLayers("LAYERS", "Layers"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        cli = self._cli()
        wf = str(Path(self.parameterAsFile(parameters, "WORKFLOW", context)).resolve())
        cwd = self.parameterAsFile(parameters, "FOLDER", context) or str(Path(wf).parent)
        # init is idempotent: it creates the store on the first run, checks inputs after
        self._run([cli, "monitor", "init", wf], feedback, cwd=cwd)
        self._run([cli, "monitor", "run", wf], feedback, cwd=cwd)
        status = json.loads("\n".join(self._run([cli, "monitor", "status", wf, "--json"],
                                                 feedback, cwd=cwd, quiet=True)))
        store = str(status.get("store", ""))
        layers = []
        if store.lower().endswith(".gpkg"):
            store = str(Path(cwd, store).resolve())
            self._run([cli, "style", store], feedback, quiet=True)
            for name, uri in _gpkg_layer_uris(store):
                _load_on_completion(context, uri, name, "LAYERS")
                layers.append(uri)
        elif store:
            feedback.pushInfo(f"store {store} is not a GeoPackage: nothing to load")
        return {"STORE": store, "LAYERS": layers}


__all__ = ["ClassifyAlgorithm", "DetectChangeAlgorithm", "MonitorAlgorithm"]
