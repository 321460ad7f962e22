"""Band names: Sentinel-2 and Landsat band ids, STAC common names.

The model asks for bands by Sentinel-2 id (``B02``); users and catalogs name
them by id in either spelling (``B2``/``B02``) or by STAC common name
(``blue``).  This module turns any of these into one canonical id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .errors import BandError

__all__ = [
    "S2_BANDS",
    "S2_COMMON_NAMES",
    "S2_RESOLUTION",
    "S2_WAVELENGTH_NM",
    "path_radiance",
    "canonical_s2",
    "band_from_text",
]

#: Sentinel-2 MSI band ids in product order
S2_BANDS: tuple[str, ...] = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12",
)

#: native resolution (m) of each Sentinel-2 band
S2_RESOLUTION: dict[str, int] = {
    "B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20,
    "B08": 10, "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20,
}

#: central wavelength (nm) of each Sentinel-2 band (Sentinel-2A MSI, rounded)
S2_WAVELENGTH_NM: dict[str, int] = {
    "B01": 443, "B02": 490, "B03": 560, "B04": 665, "B05": 705, "B06": 740, "B07": 783,
    "B08": 842, "B8A": 865, "B09": 945, "B10": 1375, "B11": 1610, "B12": 2190,
}

def path_radiance(bands: Sequence[str], blue_dn: float, exponent: float) -> dict[str, float]:
    """A path radiance per band in DN: ``blue_dn * (wavelength / 490 nm) ** -exponent``.

    The light the atmosphere scatters into the sensor, which an atmospheric correction
    (L1C -> L2A) removes: largest in the blue bands, near zero in the SWIR.  ``exponent``
    4 is pure Rayleigh scattering, ~1-2 aerosols.

    >>> {b: round(v) for b, v in path_radiance(["B02", "B04", "B12"], 600, 2.75).items()}
    {'B02': 600, 'B04': 259, 'B12': 10}
    """
    return {b: float(blue_dn) * (S2_WAVELENGTH_NM[b] / 490.0) ** -float(exponent)
            for b in bands}


#: STAC ``eo:common_name`` of each Sentinel-2 band
S2_COMMON_NAMES: dict[str, str] = {
    "B01": "coastal", "B02": "blue", "B03": "green", "B04": "red", "B05": "rededge1",
    "B06": "rededge2", "B07": "rededge3", "B08": "nir", "B8A": "nir08", "B09": "nir09",
    "B10": "cirrus", "B11": "swir16", "B12": "swir22",
}
_COMMON_TO_S2 = {v: k for k, v in S2_COMMON_NAMES.items()}
# aliases used by some catalogs (Earth Search names assets like this)
_COMMON_TO_S2.update({"rededge": "B05", "nir narrow": "B8A", "narrow nir": "B8A"})

#: Landsat 8/9 OLI band ids -> Sentinel-2 equivalents (by common name)
_LANDSAT8_TO_S2 = {"B1": "B01", "B2": "B02", "B3": "B03", "B4": "B04", "B5": "B8A",
                   "B6": "B11", "B7": "B12", "B9": "B10"}

_S2_ID = re.compile(r"^B(?:0?([1-9])|(1[0-2])|(8A))$", re.IGNORECASE)
_IN_TEXT = re.compile(r"(?:^|[_\-. ])(B(?:8A|0?[1-9]|1[0-2]))(?=$|[_\-. ])", re.IGNORECASE)


def canonical_s2(name: str) -> str:
    """Return the canonical Sentinel-2 band id (``B02``) for any usual spelling.

    Accepts ``B2``, ``B02``, ``b8a``, ``B8A`` and STAC common names
    (``blue``, ``nir``, ``swir16``...).

    Raises
    ------
    BandError
        If the name is not a Sentinel-2 band or common name.

    Examples
    --------
    >>> canonical_s2("B2"), canonical_s2("swir16"), canonical_s2("b8a")
    ('B02', 'B11', 'B8A')
    """
    text = name.strip()
    m = _S2_ID.match(text)
    if m:
        if m.group(3):
            return "B8A"
        num = int(m.group(1) or m.group(2))
        return f"B{num:02d}"
    low = text.lower()
    if low in _COMMON_TO_S2:
        return _COMMON_TO_S2[low]
    raise BandError(
        f"unknown band {name!r}; use a Sentinel-2 id (B01..B12, B8A) or a common name "
        f"({', '.join(sorted(set(S2_COMMON_NAMES.values())))})"
    )


def band_from_text(text: str, *, sensor: str = "sentinel-2") -> str | None:
    """Find a band id in a file name or band description; ``None`` when there is none.

    For ``sensor="landsat"`` the Landsat 8/9 id found is mapped onto the
    Sentinel-2 band with the same common name (``B4`` -> ``B04`` red,
    ``B5`` -> ``B8A`` nir08, ``B6`` -> ``B11`` swir16).

    Examples
    --------
    >>> band_from_text("T18SVG_20160112_B02.jp2"), band_from_text("LC08_x_B5.TIF", sensor="landsat")
    ('B02', 'B8A')
    """
    stem = text.rsplit("/", 1)[-1]
    stem = re.sub(r"\.(tif|tiff|jp2|vrt)$", "", stem, flags=re.IGNORECASE)
    # a bare id means a Sentinel-2 band only for Sentinel-2 (Landsat "B5" is nir08 = B8A)
    if sensor != "landsat" or not _S2_ID.match(stem.strip()):
        try:
            return canonical_s2(stem)
        except BandError:
            pass
    hits = _IN_TEXT.findall(stem)
    if not hits:
        return None
    raw = hits[-1].upper()
    if sensor == "landsat":
        raw = re.sub(r"^B0", "B", raw)
        return _LANDSAT8_TO_S2.get(raw)
    return canonical_s2(raw)
