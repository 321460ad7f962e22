"""The "landcover" Processing provider."""

from qgis.core import QgsProcessingProvider

from .algorithms import ClassifyAlgorithm, DetectChangeAlgorithm, MonitorAlgorithm


class LandcoverProvider(QgsProcessingProvider):
    def id(self):
        return "landcover"

    def name(self):
        return "landcover"

    def longName(self):  # noqa: N802
        return "landcover: land-cover maps and change from Sentinel-2"

    def loadAlgorithms(self):  # noqa: N802
        for alg in (ClassifyAlgorithm(), DetectChangeAlgorithm(), MonitorAlgorithm()):
            self.addAlgorithm(alg)
