"""QGIS plugin: the "landcover" Processing provider (calls the landcover CLI)."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .plugin import LandcoverPlugin

    return LandcoverPlugin(iface)
