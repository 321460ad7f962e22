"""Accuracy assessment of classified maps: pure numpy, no file access.

Two conventions live side by side in the literature and are easy to mix up:

* :func:`confusion_matrix` and :func:`classification_report` follow the
  machine-learning habit (scikit-learn): **rows = reference, columns = map**.
* Olofsson et al. (2014) print their error matrices with **rows = map,
  columns = reference**.  :func:`area_adjusted_accuracy` takes the module
  convention by default and the paper's with ``orientation="map_rows"``.

Every report is JSON-serialisable: plain ``int``/``float``/``list``/``dict``,
and ``None`` (JSON ``null``) where a figure is undefined (0/0), never NaN.

Over 400 lines: the confusion matrix, the label-map remapping and the Olofsson
estimator share the chunked label helpers (bounded temporaries on 100 Mpx maps), and
about half of the module is the numpy-style documentation of the estimators' formulas.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from .errors import AssessmentError, ConfigError

__all__ = [
    "AssessmentError",
    "OTHER",
    "confusion_matrix",
    "classification_report",
    "parse_label_map",
    "remap_for_evaluation",
    "area_adjusted_accuracy",
]

#: keyword of a label map meaning "any legend class but the named ones"
OTHER: str = "other"

# Pixels per bincount pass: bounds the temporary int64 arrays to ~32 MiB each,
# so a 100 Mpx map is counted without gigabytes of index arrays.
_CHUNK: int = 1 << 22

Orientation = Literal["reference_rows", "map_rows"]


# --------------------------------------------------------------------------- helpers


def _ratio(num: float, den: float) -> float | None:
    """``num / den`` as a plain float, or None when ``den`` is 0 (undefined)."""
    return None if den == 0 else float(num) / float(den)


def _ci(estimate: float | None, se: float | None, z: float) -> list[float] | None:
    """Symmetric normal interval ``[estimate - z*se, estimate + z*se]`` (not clipped)."""
    if estimate is None or se is None:
        return None
    return [estimate - z * se, estimate + z * se]


def _mean(values: Sequence[float | None]) -> float | None:
    """Mean of the defined values, None if none is defined."""
    defined = [v for v in values if v is not None]
    return float(sum(defined) / len(defined)) if defined else None


def _as_labels(values: ArrayLike, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == np.bool_:
        return arr.view(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        raise AssessmentError(
            f"{what} has dtype {arr.dtype}; pass integer class codes "
            f"(e.g. {what}.astype('int16') with nodata set to -1)"
        )
    return arr


def _in_range(chunk: np.ndarray, n: int) -> np.ndarray:
    """Mask of ``0 <= chunk < n`` without overflowing small dtypes."""
    ok = np.ones(chunk.shape, dtype=bool)
    if np.issubdtype(chunk.dtype, np.signedinteger):
        ok &= chunk >= 0
    if n - 1 < np.iinfo(chunk.dtype).max:
        ok &= chunk < n
    return ok


def _square_counts(cm: ArrayLike, what: str) -> np.ndarray:
    arr = np.asarray(cm)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise AssessmentError(f"{what} has shape {arr.shape}; pass a square k x k matrix of counts")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise AssessmentError(f"{what} has dtype {arr.dtype}; pass numeric counts")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise AssessmentError(f"{what} has negative or non-finite counts; pass counts >= 0")
    return arr


# --------------------------------------------------------------------------- confusion


def confusion_matrix(
    reference: ArrayLike,
    predicted: ArrayLike,
    n_classes: int,
    *,
    valid: ArrayLike | None = None,
) -> np.ndarray:
    """Count reference/map class pairs over the valid pixels.

    Parameters
    ----------
    reference : array_like of int
        Reference (ground truth) class codes, any shape.
    predicted : array_like of int
        Map class codes, same shape as ``reference``.
    n_classes : int
        Number of classes; codes ``0 .. n_classes - 1`` are counted.
    valid : array_like of bool, optional
        Same shape; pixels where it is False are ignored.

    Returns
    -------
    numpy.ndarray
        ``(n_classes, n_classes)`` int64 matrix, **rows = reference,
        columns = map**: ``cm[i, j]`` counts pixels of reference class ``i``
        mapped as class ``j``.  Pixels whose reference or map code falls
        outside ``[0, n_classes)`` (nodata such as 255, -1) are ignored.

    Raises
    ------
    AssessmentError
        If the shapes differ, the codes are not integers or ``n_classes < 1``.

    Notes
    -----
    Counting uses :func:`numpy.bincount` on ``reference * n + predicted`` in
    chunks of a few million pixels, so 100 Mpx maps need little extra memory.

    Example
    -------
    >>> confusion_matrix([0, 1, 1, 255], [0, 1, 0, 1], 2).tolist()
    [[1, 0], [1, 1]]
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)):
        raise AssessmentError(f"n_classes={n_classes!r}; pass a positive int")
    n = int(n_classes)
    if n < 1:
        raise AssessmentError(f"n_classes={n}; pass the number of classes, at least 1")
    ref = _as_labels(reference, "reference")
    pred = _as_labels(predicted, "predicted")
    if ref.shape != pred.shape:
        raise AssessmentError(
            f"reference shape {ref.shape} != predicted shape {pred.shape}; "
            "pass arrays on the same grid"
        )
    mask = None
    if valid is not None:
        mask = np.asarray(valid, dtype=bool)
        if mask.shape != ref.shape:
            raise AssessmentError(
                f"valid shape {mask.shape} != reference shape {ref.shape}; "
                "pass a mask on the same grid"
            )
        mask = mask.reshape(-1)
    ref, pred = ref.reshape(-1), pred.reshape(-1)

    counts = np.zeros(n * n, dtype=np.int64)
    for start in range(0, ref.size, _CHUNK):
        stop = start + _CHUNK
        r, p = ref[start:stop], pred[start:stop]
        ok = _in_range(r, n) & _in_range(p, n)
        if mask is not None:
            ok &= mask[start:stop]
        idx = r[ok].astype(np.int64) * n + p[ok]
        counts += np.bincount(idx, minlength=n * n)
    return counts.reshape(n, n)


def classification_report(cm: ArrayLike, class_names: Sequence[str]) -> dict[str, Any]:
    """Overall and per-class accuracy figures of a confusion matrix.

    Parameters
    ----------
    cm : array_like
        Square matrix of pixel counts, **rows = reference, columns = map**,
        as returned by :func:`confusion_matrix`.
    class_names : sequence of str
        One unique name per row.

    Returns
    -------
    dict
        JSON-serialisable report:

        * ``n_pixels``: total count;
        * ``overall_accuracy``: trace / total;
        * ``kappa``: Cohen's kappa ``(po - pe) / (1 - pe)`` with
          ``pe = sum(row_i * col_i) / total**2``;
        * ``macro_f1``, ``mean_iou``: means over the classes where defined;
        * ``per_class``: ``{name: {precision, recall, f1, iou, support,
          predicted}}`` where precision is the user's accuracy
          ``tp / column sum``, recall the producer's accuracy
          ``tp / row sum``, ``f1 = 2 tp / (row + column)``,
          ``iou = tp / (row + column - tp)``, ``support`` the reference count
          (row sum) and ``predicted`` the map count (column sum);
        * ``class_names``, ``matrix`` (nested lists) and ``orientation``.

        A figure whose denominator is 0 is ``None``: a class with no
        reference and no mapped pixel has every ratio ``None``; one only in
        the reference has precision ``None`` and recall 0; ``overall_accuracy``
        and ``kappa`` are ``None`` on an empty matrix, and ``kappa`` is
        ``None`` when ``pe == 1`` (one class everywhere in both).

    Raises
    ------
    AssessmentError
        If ``cm`` is not a square count matrix or the names do not match it.

    Example
    -------
    >>> r = classification_report([[3, 1], [0, 4]], ["water", "other"])
    >>> r["overall_accuracy"], r["per_class"]["water"]["recall"]
    (0.875, 0.75)
    """
    counts = _square_counts(cm, "cm")
    names = [str(c) for c in class_names]
    k = counts.shape[0]
    if len(names) != k:
        raise AssessmentError(
            f"{len(names)} class names for a {k} x {k} matrix; pass one name per row"
        )
    if len(set(names)) != k:
        dup = sorted({c for c in names if names.count(c) > 1})
        raise AssessmentError(f"duplicate class names {dup}; pass unique names")

    c = counts.astype(np.float64)
    total = float(c.sum())
    rows, cols, tp = c.sum(axis=1), c.sum(axis=0), np.diag(c)
    oa = _ratio(tp.sum(), total)
    kappa = None
    if oa is not None:  # total > 0
        pe = float(np.dot(rows, cols)) / total**2
        kappa = _ratio(oa - pe, 1.0 - pe) if pe < 1.0 else None

    per_class: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        per_class[name] = {
            "precision": _ratio(tp[i], cols[i]),
            "recall": _ratio(tp[i], rows[i]),
            "f1": _ratio(2 * tp[i], rows[i] + cols[i]),
            "iou": _ratio(tp[i], rows[i] + cols[i] - tp[i]),
            "support": int(round(rows[i])),
            "predicted": int(round(cols[i])),
        }
    matrix = counts.tolist() if np.issubdtype(counts.dtype, np.integer) else c.tolist()
    return {
        "n_pixels": int(round(total)),
        "overall_accuracy": oa,
        "kappa": kappa,
        "macro_f1": _mean([v["f1"] for v in per_class.values()]),
        "mean_iou": _mean([v["iou"] for v in per_class.values()]),
        "per_class": per_class,
        "class_names": names,
        "matrix": matrix,
        "orientation": "rows = reference, columns = map",
    }


# --------------------------------------------------------------------------- label maps


def _code(key: object, entry: str) -> int:
    if isinstance(key, bool):
        raise ConfigError(f"label map entry {entry!r}: code {key!r} is a boolean; use 0, 1, ...")
    if isinstance(key, (int, np.integer)):
        code = int(key)
    elif isinstance(key, str) and re.fullmatch(r"\s*[+-]?\d+\s*", key):
        code = int(key)
    else:
        raise ConfigError(
            f"label map entry {entry!r}: code {key!r} is not an integer; write 'CODE:CLASS', "
            "e.g. '1:water'"
        )
    if code < 0:
        raise ConfigError(
            f"label map entry {entry!r}: code {code} is negative; reference codes must be >= 0"
        )
    return code


def _target(
    value: object, entry: str, lookup: Mapping[str, int], names: Sequence[str]
) -> int | None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"label map entry {entry!r}: class {value!r} is not a name; use one of "
            f"{', '.join(names)} or '{OTHER}'"
        )
    key = value.strip().lower()
    if key == OTHER:
        return None
    if key not in lookup:
        raise ConfigError(
            f"label map entry {entry!r}: unknown class {value.strip()!r}; use one of "
            f"{', '.join(names)} or '{OTHER}'"
        )
    return lookup[key]


def parse_label_map(
    text_or_mapping: str | Mapping[Any, Any], class_names: Sequence[str]
) -> dict[int, int | None]:
    """Parse how reference label codes correspond to legend classes.

    Parameters
    ----------
    text_or_mapping : str or mapping
        Either ``"CODE:CLASS,CODE:CLASS,..."`` as given on a command line,
        e.g. ``"1:water,0:other"``, or a mapping ``{code: class_name}`` as
        read from YAML (codes may be ints or digit strings).  Class names are
        matched case-insensitively.  The keyword ``other`` means "any legend
        class but the named ones": the evaluation then merges all unnamed
        classes, e.g. water against everything else.  Several codes may name
        the same class.  ``other`` is always this keyword, even in a legend
        with a class of that name.
    class_names : sequence of str
        The legend class names, in code order (e.g. ``legend.CLASS_NAMES``).

    Returns
    -------
    dict[int, int | None]
        Reference code -> legend class index, or None for ``other``.

    Raises
    ------
    ConfigError
        If an entry is malformed, a code is not a non-negative integer or is
        given twice with different classes, a class is unknown, or no legend
        class is named at all.  The message names the entry and the fix.

    Example
    -------
    >>> parse_label_map("1:water,0:other", ["water", "trees"])
    {1: 0, 0: None}
    """
    names = [str(c) for c in class_names]
    lookup = {c.lower(): i for i, c in enumerate(names)}
    if isinstance(text_or_mapping, str):
        pairs: list[tuple[object, object, str]] = []
        for raw in text_or_mapping.split(","):
            entry = raw.strip()
            if not entry:
                continue  # tolerate "1:water," and doubled commas
            code_text, sep, cls = entry.partition(":")
            if not sep:
                raise ConfigError(
                    f"label map entry {entry!r} has no ':'; write 'CODE:CLASS', e.g. '1:water'"
                )
            pairs.append((code_text, cls, entry))
    elif isinstance(text_or_mapping, Mapping):
        pairs = [(k, v, f"{k}: {v}") for k, v in text_or_mapping.items()]
    else:
        raise ConfigError(
            f"label map {text_or_mapping!r} is a {type(text_or_mapping).__name__}; "
            "give a string like '1:water,0:other' or a mapping {1: water, 0: other}"
        )
    if not pairs:
        raise ConfigError(
            f"label map {text_or_mapping!r} is empty; give entries like '1:water,0:other'"
        )

    out: dict[int, int | None] = {}
    for key, value, entry in pairs:
        code = _code(key, entry)
        target = _target(value, entry, lookup, names)
        if code in out and out[code] != target:
            before = out[code]
            raise ConfigError(
                f"label map entry {entry!r}: code {code} is already mapped to "
                f"{names[before] if before is not None else OTHER!r}; map each code once"
            )
        out[code] = target
    if all(v is None for v in out.values()):
        raise ConfigError(
            f"label map {text_or_mapping!r} names no legend class; map at least one code to one "
            f"of {', '.join(names)}"
        )
    return out


def remap_for_evaluation(
    reference_labels: ArrayLike,
    predicted_classes: ArrayLike,
    label_map: str | Mapping[Any, Any],
    class_names: Sequence[str],
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Bring reference labels and map classes onto one evaluation legend.

    The evaluation classes are the legend classes named in ``label_map`` (in
    legend order), followed by ``"other"`` when the label map uses ``other``
    or some legend class is not named: every unnamed map class is merged into
    it, so a water/other reference evaluates the model's water class against
    everything else.  Map classes the reference cannot tell apart are thus
    never dropped, which would inflate accuracy.

    Parameters
    ----------
    reference_labels : array_like of int
        Reference raster in its own codes.  Codes absent from ``label_map``
        (nodata, classes not assessed) are ignored.
    predicted_classes : array_like of int
        Map raster in legend codes (``0 .. len(class_names) - 1``); other
        values (nodata 255) are ignored.
    label_map : str or mapping
        Parsed ``{code: class index | None}`` from :func:`parse_label_map`,
        or its unparsed text / YAML mapping.
    class_names : sequence of str
        The legend class names.

    Returns
    -------
    ref_codes, pred_codes : numpy.ndarray
        Evaluation codes ``0 .. len(names) - 1``, same shape as the inputs;
        ignored pixels hold 255 (uint8), or -1 (int32) beyond 255 classes.
        Both feed :func:`confusion_matrix` with ``n_classes=len(names)``.
    names : list of str
        Evaluation class names.

    Raises
    ------
    ConfigError
        If the label map is invalid (see :func:`parse_label_map`).
    AssessmentError
        If the rasters differ in shape or are not integer codes.

    Example
    -------
    >>> ref, pred, names = remap_for_evaluation(
    ...     [1, 0, 0, 9], [0, 2, 0, 0], "1:water,0:other", ["water", "trees", "grass"])
    >>> ref.tolist(), pred.tolist(), names
    ([0, 1, 1, 255], [0, 1, 0, 0], ['water', 'other'])
    """
    legend = [str(c) for c in class_names]
    if isinstance(label_map, str) or any(isinstance(v, str) for v in dict(label_map).values()):
        parsed = parse_label_map(label_map, legend)
    else:
        parsed = {int(k): (None if v is None else int(v)) for k, v in dict(label_map).items()}
        bad = [v for v in parsed.values() if v is not None and not 0 <= v < len(legend)]
        if bad or any(k < 0 for k in parsed):
            raise ConfigError(
                f"label map {dict(label_map)!r} has codes or class indices out of range; "
                "build it with parse_label_map"
            )

    ref = _as_labels(reference_labels, "reference_labels")
    pred = _as_labels(predicted_classes, "predicted_classes")
    if ref.shape != pred.shape:
        raise AssessmentError(
            f"reference shape {ref.shape} != predicted shape {pred.shape}; "
            "pass arrays on the same grid"
        )

    named = sorted({v for v in parsed.values() if v is not None})
    has_other = any(v is None for v in parsed.values()) or len(named) < len(legend)
    names = [legend[i] for i in named] + ([OTHER] if has_other else [])
    other_code = len(named)  # the evaluation code of OTHER, when has_other
    dtype, ignore = (np.uint8, 255) if len(names) < 255 else (np.int32, -1)

    # map class index -> evaluation code
    pred_lut = np.full(len(legend), other_code if has_other else ignore, dtype)
    for new, old in enumerate(named):
        pred_lut[old] = new
    # reference code -> evaluation code
    ref_lut = np.full(max(parsed) + 1, ignore, dtype)
    for code, cls in parsed.items():
        ref_lut[code] = other_code if cls is None else named.index(cls)

    return _lookup(ref, ref_lut, ignore), _lookup(pred, pred_lut, ignore), names


def _lookup(values: np.ndarray, lut: np.ndarray, ignore: int) -> np.ndarray:
    """``lut[values]``, with ``ignore`` wherever a value is outside ``[0, lut.size)``."""
    if values.dtype.itemsize <= 2:
        # 8/16-bit codes (the usual rasters): one gather through a table over every
        # bit pattern; negative codes read as large unsigned ones, so land on ``ignore``.
        n_patterns = 1 << (8 * values.dtype.itemsize)
        limit = n_patterns // 2 if np.issubdtype(values.dtype, np.signedinteger) else n_patterns
        table = np.full(n_patterns, ignore, lut.dtype)
        table[: min(lut.size, limit)] = lut[:limit]
        return table[values.view(f"u{values.dtype.itemsize}")]
    out = np.full(values.shape, ignore, lut.dtype)
    flat_in, flat_out = values.reshape(-1), out.reshape(-1)
    for start in range(0, flat_in.size, _CHUNK):
        chunk = flat_in[start : start + _CHUNK]
        ok = _in_range(chunk, lut.size)
        flat_out[start : start + _CHUNK][ok] = lut[chunk[ok]]
    return out


# --------------------------------------------------------------------------- Olofsson


def area_adjusted_accuracy(
    cm_counts: ArrayLike,
    map_area_per_class: ArrayLike,
    *,
    z: float = 1.96,
    orientation: Orientation = "reference_rows",
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Stratified accuracy and error-adjusted area (Olofsson et al., 2014).

    Estimators of Olofsson, Foody, Herold, Stehman, Woodcock & Wulder (2014),
    "Good practices for estimating area and assessing accuracy of land
    change", Remote Sens. Environ. 148:42-57, for a stratified random sample
    whose strata are the map classes.  With ``i`` the map class (stratum),
    ``j`` the reference class, ``n_ij`` the sample counts, ``n_i.`` the
    samples in stratum ``i`` and ``W_i`` its share of the mapped area:

    * area proportions ``p_ij = W_i n_ij / n_i.`` (eq. 4 / 9);
    * overall accuracy ``O = sum_j p_jj``; user's ``U_i = p_ii / p_i.``;
      producer's ``P_j = p_jj / p_.j`` (eq. 1-3);
    * variances (eq. 5-7): ``V(O) = sum_i W_i^2 U_i (1 - U_i) / (n_i. - 1)``,
      ``V(U_i) = U_i (1 - U_i) / (n_i. - 1)``, and for ``P_j`` eq. 7 with the
      mapped areas ``N_i.`` replaced by ``W_i`` (a common factor);
    * estimated area ``A_j = A p_.j`` (eq. 10) with
      ``S(p_.j) = sqrt(sum_i W_i^2 (n_ij/n_i.)(1 - n_ij/n_i.) / (n_i. - 1))``
      (eq. 10 / 11), ``S(A_j) = A S(p_.j)`` and interval ``A_j +- z S(A_j)``.

    No finite-population correction is applied, as in the paper.

    Parameters
    ----------
    cm_counts : array_like
        ``k x k`` matrix of **sample** counts.  By default
        (``orientation="reference_rows"``) rows = reference, columns = map,
        the layout of :func:`confusion_matrix`; pass
        ``orientation="map_rows"`` for the paper's layout (rows = map,
        columns = reference, e.g. its Table 8).  It is transposed internally.
    map_area_per_class : array_like of float
        Mapped area of each class (stratum size) in class order, in any unit
        (pixels, ha); estimated areas come back in the same unit.
    z : float, optional
        Normal quantile of the intervals; 1.96 gives the paper's 95 %.
    orientation : {"reference_rows", "map_rows"}, optional
        Layout of ``cm_counts``, see above.
    class_names : sequence of str, optional
        Names of the classes; defaults to ``"0", "1", ...``.

    Returns
    -------
    dict
        JSON-serialisable:

        * ``overall_accuracy``, ``overall_accuracy_se``, ``overall_accuracy_ci``;
        * ``per_class``: ``{name: {mapped_area, weight, n_samples,
          users_accuracy[_se, _ci], producers_accuracy[_se, _ci],
          area_proportion[_se], estimated_area[_se, _ci]}}``;
        * ``area_proportions``: the ``p_ij`` matrix, **in the same orientation
          as the input** (see ``orientation``);
        * ``total_area``, ``z``, ``class_names``, ``orientation``.

        Intervals are ``[low, high] = estimate -+ z * se``, not clipped to
        [0, 1] or to positive areas, as printed in the paper.  A figure with a
        zero denominator is ``None`` (a user's accuracy of a class with no
        samples, a producer's accuracy of a class with no estimated area).
        Standard errors need ``n_i. >= 2`` in every stratum they sum over
        (every stratum with mapped area, or stratum ``i`` alone for ``U_i``);
        otherwise they, and their intervals, are ``None``.

    Raises
    ------
    AssessmentError
        If the matrix is not a square count matrix, the areas do not match
        it, are negative or sum to 0, ``z <= 0``, or a class has mapped area
        but no sample (its stratum cannot be estimated).

    Notes
    -----
    Passing a wall-to-wall :func:`confusion_matrix` (every pixel a "sample")
    reduces the point estimates to those of :func:`classification_report`;
    the standard errors then describe a sample, not a census.

    Example
    -------
    >>> r = area_adjusted_accuracy([[8, 2], [1, 9]], [60, 40], orientation="map_rows")
    >>> round(r["overall_accuracy"], 2), round(r["per_class"]["0"]["estimated_area"], 1)
    (0.84, 52.0)
    """
    counts = _square_counts(cm_counts, "cm_counts").astype(np.float64)
    if orientation == "reference_rows":
        n = counts.T  # the paper's layout: rows = map (strata), columns = reference
    elif orientation == "map_rows":
        n = counts
    else:
        raise AssessmentError(f"orientation={orientation!r}; use 'reference_rows' or 'map_rows'")
    k = n.shape[0]
    areas = np.asarray(map_area_per_class, dtype=np.float64).reshape(-1)
    if areas.size != k:
        raise AssessmentError(
            f"{areas.size} mapped areas for a {k} x {k} matrix; pass one area per class"
        )
    if not np.all(np.isfinite(areas)) or np.any(areas < 0) or areas.sum() <= 0:
        raise AssessmentError(
            f"mapped areas {areas.tolist()} must be finite, >= 0 and not all 0; "
            "pass the mapped area of each class"
        )
    if isinstance(z, bool) or not (isinstance(z, Real) and math.isfinite(z) and z > 0):
        raise AssessmentError(f"z={z!r}; pass a positive normal quantile such as 1.96")
    z = float(z)
    names = [str(i) for i in range(k)] if class_names is None else [str(c) for c in class_names]
    if len(names) != k:
        raise AssessmentError(
            f"{len(names)} class names for a {k} x {k} matrix; pass one name per class"
        )

    total = float(areas.sum())
    w = areas / total
    n_i = n.sum(axis=1)
    empty = [names[i] for i in range(k) if w[i] > 0 and n_i[i] == 0]
    if empty:
        raise AssessmentError(
            f"classes {empty} have mapped area but no sample; sample them "
            "(at least 2 each) or give them area 0"
        )

    sampled = n_i > 0
    frac = np.zeros_like(n)  # n_ij / n_i.
    frac[sampled] = n[sampled] / n_i[sampled, None]
    p = w[:, None] * frac
    p_col = p.sum(axis=0)  # p_.j, estimated reference-class proportions
    p_diag = np.diag(p)

    # Per-stratum variance factor (n_ij/n_i.)(1 - n_ij/n_i.)/(n_i. - 1); strata
    # with no area contribute nothing, strata with area but one sample leave
    # the variance undefined.
    se_ok = bool(np.all((w == 0) | (n_i >= 2)))
    var_f = np.zeros_like(n)
    usable = sampled & (n_i >= 2)
    var_f[usable] = frac[usable] * (1 - frac[usable]) / (n_i[usable, None] - 1)
    w2 = w**2

    oa = float(p_diag.sum())
    oa_se = float(math.sqrt(np.sum(w2 * np.diag(var_f)))) if se_ok else None

    per_class: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(names):
        ua = _ratio(n[j, j], n_i[j])
        ua_se = None
        if ua is not None and n_i[j] >= 2:
            ua_se = float(math.sqrt(ua * (1 - ua) / (n_i[j] - 1)))
        pa = _ratio(p_diag[j], p_col[j])
        pa_se = None
        if pa is not None and se_ok:
            own = w2[j] * (1 - pa) ** 2 * var_f[j, j]
            others = pa**2 * (np.sum(w2 * var_f[:, j]) - w2[j] * var_f[j, j])
            pa_se = float(math.sqrt(max(own + others, 0.0)) / p_col[j])
        prop = float(p_col[j])
        prop_se = float(math.sqrt(np.sum(w2 * var_f[:, j]))) if se_ok else None
        area = total * prop
        area_se = None if prop_se is None else total * prop_se
        per_class[name] = {
            "mapped_area": float(areas[j]),
            "weight": float(w[j]),
            "n_samples": int(round(n_i[j])),
            "users_accuracy": ua,
            "users_accuracy_se": ua_se,
            "users_accuracy_ci": _ci(ua, ua_se, z),
            "producers_accuracy": pa,
            "producers_accuracy_se": pa_se,
            "producers_accuracy_ci": _ci(pa, pa_se, z),
            "area_proportion": prop,
            "area_proportion_se": prop_se,
            "estimated_area": area,
            "estimated_area_se": area_se,
            "estimated_area_ci": _ci(area, area_se, z),
        }

    out_p = p if orientation == "map_rows" else p.T
    return {
        "overall_accuracy": oa,
        "overall_accuracy_se": oa_se,
        "overall_accuracy_ci": _ci(oa, oa_se, z),
        "per_class": per_class,
        "area_proportions": out_p.tolist(),
        "total_area": total,
        "z": float(z),
        "class_names": names,
        "orientation": (
            "rows = map, columns = reference"
            if orientation == "map_rows"
            else "rows = reference, columns = map"
        ),
    }
