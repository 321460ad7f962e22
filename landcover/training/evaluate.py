"""Evaluate a model bundle: agreement with the teacher, water IoU, built change.

Three checks, each returning a plain ``dict`` of numbers (JSON-ready, also
stored in ``ModelSpec.metrics``):

* :func:`agreement_with_teacher`: overall accuracy and per-class IoU against
  the Dynamic World teacher's argmax on held-out scenes (clouds and nodata
  excluded);
* :func:`water_iou_sen1floods11`: water IoU against the hand labels of the
  Sen1Floods11 west chip (evaluation only: never trained on);
* :func:`oscd_built_change`: recall and precision of "became built" against
  the OSCD urban-change masks.

:func:`model_classes` classifies through the pipeline
(:func:`landcover.classify.classify_array`): the figures are those of the maps
``landcover classify`` writes, not of a separate tiler.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BandError, SceneNotFoundError
from ..legend import CLASS_NAMES
from ..model import LoadedModel
from .classes import model_classes
from .data import SceneArrays, load_scene
from .scenes import OSCD_CITIES, SceneRef, default_data_root, oscd_scenes

__all__ = [
    "model_classes",
    "agreement_with_teacher",
    "water_iou_sen1floods11",
    "oscd_built_change",
    "card_figures",
    "held_out_oscd_cities",
    "disagreement",
    "SEN1FLOODS11_WEST",
]

log = logging.getLogger(__name__)

#: the shared Sen1Floods11 chip (13 bands B1..B12 with B8A, L1C DN), relative to the data root
SEN1FLOODS11_WEST: Path = Path("sen1floods11") / "Spain_7370579_west_S2Hand.tif"

WATER, BUILT = 0, 6


def _iou_table(pred: np.ndarray, ref: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    cm = np.bincount(ref.astype(np.int64) * n + pred.astype(np.int64),
                     minlength=n * n).reshape(n, n)
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
    return cm, iou


def agreement_with_teacher(
    model: LoadedModel,
    scenes: Sequence[SceneArrays | SceneRef],
    *,
    cache_dir: Path | None = None,
    tta: bool = False,
) -> dict[str, Any]:
    """Agreement of the model's argmax with the teacher's on held-out scenes.

    Pixels that are nodata or cloud (s2cloudless) are left out.

    Parameters
    ----------
    model
        A loaded bundle.
    scenes
        Validation scenes, loaded (:class:`SceneArrays`) or not
        (:class:`SceneRef`, read with :func:`landcover.training.data.load_scene`).
    cache_dir
        Cache for scenes that must be read.
    tta
        Test-time augmentation (:func:`model_classes`).

    Returns
    -------
    dict
        ``overall_accuracy``, ``iou`` (class name -> IoU, ``None`` where the
        class is in neither map), ``mean_iou`` (over classes the teacher
        shows on >= 0.1% of pixels), ``teacher_share`` (class -> fraction of
        pixels), ``per_scene_accuracy``, ``pixels`` and ``scenes``.
    """
    n = len(CLASS_NAMES)
    total = np.zeros((n, n), np.int64)
    per_scene = {}
    for s in scenes:
        arr = s if isinstance(s, SceneArrays) else load_scene(s, bands=model.spec.bands,
                                                              cache_dir=cache_dir)
        pred = model_classes(model, arr.dn, tta=tta)[arr.valid]
        ref = arr.probs.argmax(axis=0)[arr.valid]
        cm, _ = _iou_table(pred, ref, n)
        total += cm
        per_scene[arr.name] = float(np.trace(cm) / max(cm.sum(), 1))
    tp = np.diag(total).astype(np.float64)
    union = total.sum(0) + total.sum(1) - tp
    share = total.sum(1) / max(total.sum(), 1)
    iou = {c: (float(tp[k] / union[k]) if union[k] > 0 else None)
           for k, c in enumerate(CLASS_NAMES)}
    common = [k for k in range(n) if share[k] >= 0.001 and union[k] > 0]
    return {
        "overall_accuracy": float(tp.sum() / max(total.sum(), 1)),
        "iou": iou,
        "mean_iou": float(np.mean([tp[k] / union[k] for k in common])) if common else None,
        "teacher_share": {c: float(share[k]) for k, c in enumerate(CLASS_NAMES)},
        "per_scene_accuracy": per_scene,
        "pixels": int(total.sum()),
        "scenes": sorted(per_scene),
    }


def _read_multiband(path: Path, bands: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    import rasterio

    from .scenes import open_scene

    if not path.exists():
        raise SceneNotFoundError(f"{path} does not exist; is the shared data's sen1floods11/ "
                                 "staged under the data root?")
    scene = open_scene([path])
    missing = scene.missing(bands)
    if missing:
        raise BandError(f"{path.name} lacks bands {missing}; it has {sorted(scene.bands)}")
    with rasterio.open(path) as ds:
        dn = np.stack([ds.read(scene.bands[b].bidx) for b in bands]).astype(np.float32)
        nodata = ds.nodata
    bad = np.asarray((dn <= 0).any(axis=0))  # (h, w): asarray only types it as an array
    if nodata is not None:
        bad |= (dn == nodata).any(axis=0)
    return dn, bad


def water_iou_sen1floods11(
    model: LoadedModel,
    *,
    image: Path | None = None,
    label: Path | None = None,
    data_root: str | os.PathLike | None = None,
    tta: bool = False,
) -> dict[str, Any]:
    """Water IoU on the Sen1Floods11 west chip (hand labels; evaluation only).

    Model water = class 0 (``water``).  Pixels with label -1 or any band 0
    are left out.  The teacher's figure on the same pixels is given for
    comparison when its class map is staged.

    Parameters
    ----------
    model
        A loaded bundle.
    image, label
        The 13-band S2 chip (band descriptions B1..B12, B8A; default:
        :data:`SEN1FLOODS11_WEST` under the data root) and its label
        (default: ``..._LabelHand.tif`` beside the image).
    data_root
        The shared-data root (:func:`landcover.training.scenes.default_data_root`).
    tta
        Test-time augmentation (:func:`model_classes`).

    Returns
    -------
    dict
        ``iou``, ``precision``, ``recall``, ``water_fraction_label``,
        ``water_fraction_pred``, ``pixels``, ``teacher_iou`` and ``disagreement``
        (:func:`disagreement`; both ``None`` without the teacher's class map).
    """
    import rasterio

    root = default_data_root(data_root)
    image = Path(image) if image is not None else root / SEN1FLOODS11_WEST
    label = label or image.with_name(image.name.replace("_S2Hand", "_LabelHand"))
    dn, bad = _read_multiband(image, model.spec.bands)
    with rasterio.open(label) as ds:
        lab = ds.read(1)
    valid = ~bad & (lab >= 0)
    pred = model_classes(model, dn, tta=tta) == WATER
    truth = lab == 1
    out = _binary_scores(pred[valid], truth[valid])
    teacher_cls = (root / "dynamicworld" / "teacher_labels"
                   / "sen1floods11_Spain_7370579_west_dw_class.tif")
    out["teacher_iou"] = out["disagreement"] = None
    if teacher_cls.exists():
        with rasterio.open(teacher_cls) as ds:
            tc = ds.read(1)
        tv = valid & (tc != 255)
        out["teacher_iou"] = _binary_scores(tc[tv] == WATER, truth[tv])["iou"]
        out["disagreement"] = disagreement(pred[tv], tc[tv] == WATER, truth[tv])
    out["water_fraction_label"] = float(truth[valid].mean())
    out["water_fraction_pred"] = float(pred[valid].mean())
    return out


def disagreement(student: np.ndarray, teacher: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Who is right where the student and the teacher disagree, on labelled pixels.

    Parameters
    ----------
    student, teacher, truth
        Boolean arrays of one shape: the two models' yes/no calls and the real label.

    Returns
    -------
    dict
        ``pixels`` (where the calls differ), ``student_right`` and ``teacher_right``
        (their sum: on a yes/no question exactly one of two different calls is right),
        and ``student_share``, the student's share of them (``None`` if no pixel).
    """
    differ = student != teacher
    n = int(differ.sum())
    right = int((student[differ] == truth[differ]).sum())
    return {"pixels": n, "student_right": right, "teacher_right": n - right,
            "student_share": right / n if n else None}


def _binary_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    tp = int(np.sum(pred & truth))
    fp = int(np.sum(pred & ~truth))
    fn = int(np.sum(~pred & truth))
    return {
        "iou": tp / (tp + fp + fn) if tp + fp + fn else None,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
        "pixels": int(pred.size),
        "tp": tp, "fp": fp, "fn": fn,
    }


def oscd_built_change(
    model: LoadedModel,
    cities: Sequence[str] = OSCD_CITIES,
    *,
    root: Path | None = None,
    cache_dir: Path | None = None,
    data_root: str | os.PathLike | None = None,
    tta: bool = False,
) -> dict[str, Any]:
    """"Became built" (class 6 on date 2, not on date 1) vs OSCD urban change.

    Pixels nodata or cloudy on either date are left out.  The teacher's
    figures on the same pixels are given for comparison.

    Parameters
    ----------
    model
        A loaded bundle.
    cities
        OSCD cities (use the validation cities for a fair figure).
    root, cache_dir
        OSCD folder (default ``<data root>/oscd``) and scene cache.
    data_root
        The shared-data root (:func:`landcover.training.scenes.default_data_root`).
    tta
        Test-time augmentation (:func:`model_classes`).

    Returns
    -------
    dict
        Pooled ``recall``, ``precision``, ``f1``, ``iou`` (model and
        ``teacher``), ``disagreement`` (:func:`disagreement`, pooled) and ``per_city``
        figures.
    """
    import rasterio

    root = Path(root) if root is not None else default_data_root(data_root) / "oscd"
    preds, truths, tpreds, per_city = [], [], [], {}
    for city in cities:
        d1, d2 = oscd_scenes([city], root=root, data_root=data_root)
        a1 = load_scene(d1, bands=model.spec.bands, cache_dir=cache_dir)
        a2 = load_scene(d2, bands=model.spec.bands, cache_dir=cache_dir)
        c1 = model_classes(model, a1.dn, tta=tta)
        c2 = model_classes(model, a2.dn, tta=tta)
        valid = a1.valid & a2.valid
        with rasterio.open(root / city / f"{city}_change_mask.tif") as ds:
            truth = ds.read(1) == 1
        pred = (c2 == BUILT) & (c1 != BUILT)
        t1, t2 = a1.probs.argmax(axis=0), a2.probs.argmax(axis=0)
        tpred = (t2 == BUILT) & (t1 != BUILT)
        preds.append(pred[valid])
        truths.append(truth[valid])
        tpreds.append(tpred[valid])
        per_city[city] = _binary_scores(pred[valid], truth[valid])
    pred_all, truth_all = np.concatenate(preds), np.concatenate(truths)
    out = _binary_scores(pred_all, truth_all)
    tpred_all = np.concatenate(tpreds)
    out["teacher"] = _binary_scores(tpred_all, truth_all)
    out["disagreement"] = disagreement(pred_all, tpred_all, truth_all)
    out["per_city"] = per_city
    out["cities"] = list(cities)
    return out


def evaluate_on_labels(
    model_path: str | Path,
    scene_paths: Sequence[str | Path],
    labels_path: str | Path,
    label_map: str | dict,
    out_map: str | Path,
    *,
    clouds: str = "s2cloudless",
    date: str | None = None,
    tta: bool = False,
) -> dict[str, Any]:
    """Classify scenes onto the grid of a label raster and assess the map against it.

    The scenes go through the production pipeline (:func:`landcover.workflow.
    classify_region`: tiles, blending, cloud mask) onto the labels' grid.  The
    report holds per-class IoU, F1, precision, recall, overall accuracy, Cohen's
    kappa, the confusion matrix, and the area-adjusted accuracy with 95% confidence
    intervals (Olofsson et al. 2014) with the map classes as strata and the labelled
    pixels as the reference sample.  Masked map pixels (cloud, nodata) are left out.

    Parameters
    ----------
    label_map
        ``"1:water,0:other"`` or a mapping of label codes to legend class names.
    tta
        Test-time augmentation (:func:`landcover.inference.predict_probabilities`).
    """
    import datetime as dt

    import rasterio

    from ..classify import classify_region
    from ..grid import Grid
    from ..io.read import detect_scale
    from ..io.scenes import FolderSource, scene_from_files
    from ..legend import CLASS_NAMES
    from ..metrics import (
        area_adjusted_accuracy,
        classification_report,
        confusion_matrix,
        remap_for_evaluation,
    )
    from ..tasks import ClassifyOptions

    the_date = dt.date.fromisoformat(date) if date else dt.date(1970, 1, 1)
    paths = [Path(p) for p in scene_paths]
    scene = (FolderSource(paths[0], date=the_date).scenes()[0]
             if len(paths) == 1 and paths[0].is_dir()
             else scene_from_files(paths, date=the_date))
    with rasterio.open(labels_path) as ds:
        labels = ds.read(1)
        grid = Grid(ds.crs, ds.transform, ds.width, ds.height)
        if ds.nodata is not None:
            labels = np.where(labels == ds.nodata, np.iinfo(np.int32).max, labels)
    labels = labels.astype(np.int64)
    labels[labels < 0] = np.iinfo(np.int32).max  # negative codes are nodata (e.g. -1)
    res = classify_region([(scene, detect_scale(scene))], grid, model_path, out_map,
                          options=ClassifyOptions(cloud_method=clouds, tta=tta))
    with rasterio.open(res.map_path) as ds:
        pred = ds.read(1)
    labels[labels == np.iinfo(np.int32).max] = 2**20  # outside any label map: ignored
    ref_codes, pred_codes, names = remap_for_evaluation(labels, pred, label_map, CLASS_NAMES)
    valid = (ref_codes != 255) & (pred_codes != 255) & (pred < len(CLASS_NAMES))
    cm = confusion_matrix(ref_codes, pred_codes, len(names), valid=valid)
    report = classification_report(cm, names)
    mapped = pred_codes[(pred_codes != 255) & (pred < len(CLASS_NAMES))]
    map_area = np.bincount(mapped.ravel(), minlength=len(names))
    try:
        report["area_adjusted"] = area_adjusted_accuracy(cm, map_area, class_names=names)
    except Exception as exc:  # a map class with no reference sample: say so, keep the rest
        report["area_adjusted"] = {"error": str(exc).splitlines()[0]}
    report["pixels_assessed"] = int(valid.sum())
    report["map"] = str(res.map_path)
    report["scene"] = scene.id
    return report


def held_out_oscd_cities(model: LoadedModel,
                         cities: Sequence[str] | None = None) -> list[str]:
    """The OSCD cities among ``cities`` (default: the validation groups the bundle records).

    Raises
    ------
    ConfigError
        If there is none: figures on the model's training cities would mean nothing.
    """
    from ..errors import ConfigError

    if cities is None:
        cities = model.spec.training.get("split", {}).get("validation_groups", [])
    held_out = [c for c in cities if c in OSCD_CITIES]
    if not held_out:
        raise ConfigError(f"model {model.spec.name} {model.spec.version} records no held-out "
                          "OSCD city, so its figures would be measured on its training cities; "
                          "evaluate it with --labels instead")
    return held_out


def card_figures(
    model: LoadedModel,
    *,
    cities: Sequence[str] | None = None,
    cache_dir: Path | None = None,
    data_root: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Every accuracy figure of the model card, through the pipeline, from the shared data.

    Agreement with the teacher and "became built" against the OSCD change masks on the
    held-out ``cities`` (default: the validation cities the bundle records), the
    Sen1Floods11 west water IoU, and where the model and the teacher disagree on those
    real labels, who is right (:func:`disagreement`); on L2A, the share of the BigEarthNet
    patches' pixels consistent with their CORINE labels
    (:func:`landcover.training.bigearthnet.l2a_consistency`).

    Returns
    -------
    dict
        ``teacher_agreement_validation``, ``sen1floods11_west_water``,
        ``oscd_built_change_validation``, ``bigearthnet_l2a`` and ``eval_wall_time_s``.

    Raises
    ------
    ConfigError
        If no held-out city is an OSCD city.
    """
    import time

    from .bigearthnet import l2a_consistency

    cities = held_out_oscd_cities(model, cities)
    t0 = time.time()
    out: dict[str, Any] = {
        "teacher_agreement_validation": agreement_with_teacher(
            model, oscd_scenes(cities, data_root=data_root), cache_dir=cache_dir),
        "sen1floods11_west_water": water_iou_sen1floods11(model, data_root=data_root),
        "oscd_built_change_validation": oscd_built_change(model, cities, cache_dir=cache_dir,
                                                          data_root=data_root),
        "bigearthnet_l2a": l2a_consistency(model, data_root=data_root),
    }
    out["eval_wall_time_s"] = round(time.time() - t0, 1)
    return out
