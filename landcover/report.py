"""The run report: one self-contained HTML page (inline PNG images, no network).

:func:`render_report` is pure: it takes arrays, tables and dictionaries (see
:class:`ReportData`) and returns the HTML text; :mod:`landcover.outputs`
reads a run's files into a :class:`ReportData`.  Plots are matplotlib
figures outside pyplot (Agg canvas; no global backend is switched); colours
come from :mod:`landcover.legend` and :data:`landcover.change.RULES`, as in
the COGs and the QGIS styles.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .legend import CLASSES, CLOUD, NODATA

__all__ = ["ReportData", "render_report"]

log = logging.getLogger(__name__)


@dataclass
class ReportData:
    """What the report shows.

    Attributes
    ----------
    title, run_id
        Heading and run identifier.
    dates
        Map label -> acquisition date (``{"before": "2015-11-30", ...}``).
    previews
        Map label -> a class map (uint8, possibly decimated) to draw.
    extent
        ``(xmin, xmax, ymin, ymax)`` of the previews in ``crs_name`` units.
    class_area_ha
        Map label -> class name -> equal-area hectares.
    masked_area_ha
        Map label -> ``{"cloud / shadow": ha, "no data": ha}``.
    transition_ha
        (classes, classes) equal-area hectares from the first to the last map
        (pixels valid on both dates), or None with fewer than two maps.
    change
        Change type -> a table of polygons (a GeoDataFrame with ``area_ha``,
        ``class_from``, ``class_to``, ``mean_confidence``...), in the map CRS.
    change_colors, change_titles
        Change type -> colour / title.
    inputs, model, timings
        Key -> value tables (inputs; model card; seconds per step).
    """

    title: str
    run_id: str
    dates: dict[str, str]
    previews: dict[str, np.ndarray]
    extent: tuple[float, float, float, float]
    crs_name: str
    class_area_ha: dict[str, dict[str, float]]
    masked_area_ha: dict[str, dict[str, float]] = field(default_factory=dict)
    transition_ha: np.ndarray | None = None
    change: dict[str, Any] = field(default_factory=dict)
    change_colors: dict[str, str] = field(default_factory=dict)
    change_titles: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    max_alerts: int = 200


# --------------------------------------------------------------------------- plots


def _subplots(figsize: tuple[float, float], **kw):
    """A figure outside pyplot: no global backend switch, nothing left open."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(**kw)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _class_cmap():
    from matplotlib.colors import BoundaryNorm, ListedColormap

    colors = ["#ffffff"] * 256
    for c in CLASSES:
        colors[c.code] = c.color
    colors[CLOUD] = "#ffffff"
    cmap = ListedColormap(colors).with_extremes(bad=(0, 0, 0, 0))
    return cmap, BoundaryNorm(np.arange(-0.5, 256.5, 1), 256)


def _map_figure(arr: np.ndarray, extent, title: str, *, legend: bool = True, alpha=1.0,
                ax=None):
    from matplotlib.patches import Patch

    cmap, norm = _class_cmap()
    fig = None
    if ax is None:
        fig, ax = _subplots(figsize=(6.4, 6.4 * min(2.0, arr.shape[0] / arr.shape[1])))
    shown = np.ma.masked_equal(arr, NODATA)
    ax.imshow(shown, cmap=cmap, norm=norm, extent=extent, interpolation="nearest",
              alpha=alpha)
    ax.set_title(title)
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(labelsize=7)
    if legend:
        present = set(np.unique(arr).tolist())
        handles = [Patch(facecolor=c.color, edgecolor="#555555", label=c.label)
                   for c in CLASSES]
        if CLOUD in present:
            handles.append(Patch(facecolor="#ffffff", edgecolor="#555555",
                                 label="cloud / shadow (masked)"))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  fontsize=8, frameon=False)
    return fig, ax


def _maps_figure(data: ReportData) -> str:
    """Every date's map side by side, with the class legend once."""
    from matplotlib.patches import Patch

    labels = list(data.previews)
    h, w = next(iter(data.previews.values())).shape
    panel_w = 4.2
    panel_h = min(8.0, panel_w * h / w)
    fig, axes = _subplots(figsize=(panel_w * len(labels) + 2.4, panel_h + 0.6),
                          ncols=len(labels), sharey=True)
    axes = np.atleast_1d(axes)
    present: set[int] = set()
    for ax, lab in zip(axes, labels, strict=True):
        _map_figure(data.previews[lab], data.extent, f"{lab}: {data.dates.get(lab, '')}",
                    legend=False, ax=ax)
        present |= set(np.unique(data.previews[lab]).tolist())
    handles = [Patch(facecolor=c.color, edgecolor="#555555", label=c.label) for c in CLASSES]
    if CLOUD in present:
        handles.append(Patch(facecolor="#ffffff", edgecolor="#555555",
                             label="cloud / shadow (masked)"))
    axes[-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.03, 1.0),
                    fontsize=8, frameon=False)
    return _png(fig)


def _change_figure(data: ReportData) -> str:
    from matplotlib.patches import Patch

    last = list(data.previews)[-1]
    arr = data.previews[last]
    fig, ax = _subplots(figsize=(6.4, 6.4 * min(2.0, arr.shape[0] / arr.shape[1])))
    _map_figure(arr, data.extent, "", legend=False, alpha=0.3, ax=ax)
    handles = []
    for name, df in data.change.items():
        color = data.change_colors.get(name, "#ff00ff")
        if df is not None and len(df):
            df.plot(ax=ax, facecolor=color, edgecolor=color, linewidth=0.8)
        handles.append(Patch(facecolor=color, edgecolor=color,
                             label=f"{data.change_titles.get(name, name)} "
                                   f"({0 if df is None else len(df)})"))
    ax.set_xlim(data.extent[0], data.extent[1])
    ax.set_ylim(data.extent[2], data.extent[3])
    dates = list(data.dates.values())
    ax.set_title(f"Change {dates[0]} to {dates[-1]} (over the {last} map, faded)")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(labelsize=7)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8,
              frameon=False)
    return _png(fig)


def _area_figure(data: ReportData) -> str:
    labels = list(data.class_area_ha)
    fig, ax = _subplots(figsize=(7.5, 3.2))
    width = 0.8 / max(1, len(labels))
    x = np.arange(len(CLASSES))
    for i, lab in enumerate(labels):
        vals = [data.class_area_ha[lab].get(c.name, 0.0) for c in CLASSES]
        ax.bar(x + (i - (len(labels) - 1) / 2) * width, vals, width,
               color=[c.color for c in CLASSES], edgecolor="#333333",
               hatch=None if i == 0 else "//", label=f"{lab} {data.dates.get(lab, '')}")
    ax.set_xticks(x, [c.label for c in CLASSES], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("area (ha)")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(facecolor="white", edgecolor="#333333",
                             hatch=None if i == 0 else "//",
                             label=f"{lab} {data.dates.get(lab, '')}")
                       for i, lab in enumerate(labels)], fontsize=8)
    ax.set_title("Area per class (equal area)")
    return _png(fig)


# --------------------------------------------------------------------------- HTML


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    return "" if v is None else str(v)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, cls: str = "") -> str:
    h = "".join(f"<th>{html.escape(str(c))}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r) + "</tr>"
                   for r in rows)
    return f'<table class="{cls}"><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>'


def _kv(d: Mapping[str, Any]) -> str:
    return _table(["", ""], [(k, v) for k, v in d.items()], cls="kv")


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:72em;
color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:1.6em} .sub{color:#666}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
table.kv td{text-align:left;vertical-align:top} table.kv thead{display:none}
.maps{display:flex;flex-wrap:wrap;gap:1em} .maps figure{margin:0}
img{max-width:100%;height:auto}
.swatch{display:inline-block;width:.9em;height:.9em;border:1px solid #555;
vertical-align:middle;margin-right:.3em}
"""


def _swatch(color: str) -> str:
    return f'<span class="swatch" style="background:{html.escape(color)}"></span>'


def render_report(data: ReportData) -> str:
    """The report as one HTML document (images inline as base64 PNG).

    Example
    -------
    >>> html_text = render_report(data)  # doctest: +SKIP
    """
    labels = list(data.previews)
    parts: list[str] = []
    dates = ", ".join(f"{k} {v}" for k, v in data.dates.items())
    parts.append(f"<h1>{html.escape(data.title)}</h1>"
                 f'<p class="sub">run {html.escape(data.run_id)} &middot; {html.escape(dates)}'
                 f" &middot; written {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC</p>")

    # maps: one panel per date, one legend
    parts.append("<h2>Land-cover maps</h2>")
    parts.append(f"<figure>{_img(_maps_figure(data), 'land-cover maps')}<figcaption>"
                 f"{html.escape(', '.join(f'{k} {v}' for k, v in data.dates.items()))}; "
                 f"{html.escape(data.crs_name)}</figcaption></figure>")

    # areas
    parts.append("<h2>Area per class (hectares, equal area)</h2>")
    area_rows: list[tuple[str, list[float]]] = []  # (row heading HTML, hectares per map)
    for c in CLASSES:
        area_rows.append((_swatch(c.color) + html.escape(c.label),
                     [data.class_area_ha[lab].get(c.name, 0.0) for lab in labels]))
    masked_names = sorted({k for v in data.masked_area_ha.values() for k in v})
    for m in masked_names:
        area_rows.append((html.escape(m), [data.masked_area_ha.get(lab, {}).get(m, 0.0)
                                           for lab in labels]))
    head = "".join(f"<th>{html.escape(f'{lab} {data.dates.get(lab, chr(32))}')}</th>"
                   for lab in labels)
    body = "".join("<tr><td>" + head_html + "</td>"
                   + "".join(f"<td>{_fmt(float(v))}</td>" for v in values) + "</tr>"
                   for head_html, values in area_rows)
    parts.append(f"<table><thead><tr><th>class</th>{head}</tr></thead><tbody>{body}"
                 "</tbody></table>")
    parts.append(_img(_area_figure(data), "area per class"))

    # change
    if data.change:
        parts.append("<h2>Change</h2>")
        parts.append(_img(_change_figure(data), "change map"))
        crow = []
        for name, df in data.change.items():
            n = 0 if df is None else len(df)
            area = 0.0 if not n else float(df["area_ha"].sum())
            crow.append([_swatch(data.change_colors.get(name, "#ff00ff"))
                         + html.escape(data.change_titles.get(name, name)), n, area])
        body = "".join(f"<tr><td>{r[0]}</td><td>{r[1]}</td><td>{_fmt(r[2])}</td></tr>"
                       for r in crow)
        parts.append("<table><thead><tr><th>change type</th><th>polygons</th>"
                     f"<th>area (ha, equal area)</th></tr></thead><tbody>{body}</tbody></table>")

    # transitions
    if data.transition_ha is not None and len(labels) >= 2:
        t = data.transition_ha
        parts.append(f"<h2>Transitions {html.escape(labels[0])} &rarr; "
                     f"{html.escape(labels[-1])} (hectares)</h2>"
                     "<p class=\"sub\">Rows: class on the first date; columns: class on the "
                     "second; pixels valid on both dates, equal-area hectares.</p>")
        head = "".join(f"<th>{html.escape(c.label)}</th>" for c in CLASSES) + "<th>total</th>"
        body = ""
        for i, c in enumerate(CLASSES):
            cells = "".join(
                f"<td{' style=font-weight:bold' if i == j else ''}>{_fmt(float(t[i, j]))}</td>"
                for j in range(len(CLASSES)))
            body += (f"<tr><td>{_swatch(c.color)}{html.escape(c.label)}</td>{cells}"
                     f"<td>{_fmt(float(t[i].sum()))}</td></tr>")
        body += ("<tr><td>total</td>" + "".join(f"<td>{_fmt(float(t[:, j].sum()))}</td>"
                                                for j in range(len(CLASSES)))
                 + f"<td>{_fmt(float(t.sum()))}</td></tr>")
        parts.append(f"<table><thead><tr><th>from \\ to</th>{head}</tr></thead>"
                     f"<tbody>{body}</tbody></table>")

    # alerts
    if data.change:
        parts.append("<h2>Alerts (largest first)</h2>")
        rows = _alert_rows(data)
        if rows:
            shown = rows[: data.max_alerts]
            parts.append(_table(["#", "change type", "from", "to", "area (ha)",
                                 "mean confidence", "pixels", "lon", "lat"], shown))
            if len(rows) > len(shown):
                parts.append(f"<p class=\"sub\">{len(rows) - len(shown)} smaller polygons "
                             "not listed (see change.gpkg).</p>")
        else:
            parts.append("<p>No change polygon above the minimum mapping unit.</p>")

    parts.append("<h2>Inputs</h2>" + _kv(data.inputs))
    parts.append("<h2>Model</h2>" + _kv(data.model))
    parts.append("<h2>Timings (seconds)</h2>" + _kv({k: float(v)
                                                     for k, v in data.timings.items()}))
    body = "\n".join(parts)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<link rel=\"icon\" href=\"data:,\">"
            f"<title>{html.escape(data.title)}</title><style>{_CSS}</style></head>"
            f"<body>\n{body}\n</body></html>\n")


def _alert_rows(data: ReportData) -> list[list[Any]]:
    import pandas as pd

    frames = [df for df in data.change.values() if df is not None and len(df)]
    if not frames:
        return []
    df = pd.concat(frames, ignore_index=True).sort_values("area_ha", ascending=False,
                                                          kind="stable")
    cent = df.geometry.representative_point().to_crs("EPSG:4326")
    rows = []
    for i, (r, p) in enumerate(zip(df.itertuples(index=False), cent, strict=True), start=1):
        conf = getattr(r, "mean_confidence", float("nan"))
        rows.append([i, r.change_type, r.class_from, r.class_to, float(r.area_ha),
                     "" if conf != conf else f"{conf:.2f}", int(r.pixel_count),
                     f"{p.x:.5f}", f"{p.y:.5f}"])
    return rows
