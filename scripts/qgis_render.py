"""Render a landcover project.qgz in QGIS to a PNG with a legend (for docs/img).

Runs under the system Python that owns the QGIS bindings, headless:

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 scripts/qgis_render.py OUT/project.qgz PNG
"""

import sys

from qgis.core import (
    QgsApplication,
    QgsLayoutExporter,
    QgsLayoutItemLabel,
    QgsLayoutItemLegend,
    QgsLayoutItemMap,
    QgsLayoutPoint,
    QgsLayoutSize,
    QgsLegendStyle,
    QgsPrintLayout,
    QgsProject,
    QgsUnitTypes,
)
from qgis.PyQt.QtGui import QFont


def main(project_path, png, width_mm=250.0, height_mm=200.0):
    app = QgsApplication([], False)
    app.initQgis()
    try:
        p = QgsProject.instance()
        if not p.read(project_path):
            raise SystemExit(f"cannot read {project_path}")
        root = p.layerTreeRoot()
        # show the second date's map and the change: hide the first date's group
        groups = root.children()
        if len(groups) >= 3:
            groups[-1].setItemVisibilityChecked(False)
        layout = QgsPrintLayout(p)
        layout.initializeDefaults()
        page = layout.pageCollection().page(0)
        page.setPageSize(QgsLayoutSize(width_mm, height_mm, QgsUnitTypes.LayoutMillimeters))
        title = QgsLayoutItemLabel(layout)
        title.setText(p.title())
        title.setFont(QFont("DejaVu Sans", 12))
        title.attemptMove(QgsLayoutPoint(5, 3, QgsUnitTypes.LayoutMillimeters))
        title.attemptResize(QgsLayoutSize(width_mm - 10, 8, QgsUnitTypes.LayoutMillimeters))
        layout.addLayoutItem(title)
        m = QgsLayoutItemMap(layout)
        ext = p.viewSettings().defaultViewExtent()
        map_h = height_mm - 18
        map_wd = min(width_mm * 0.6, map_h * ext.width() / ext.height())
        m.attemptMove(QgsLayoutPoint(5, 12, QgsUnitTypes.LayoutMillimeters))
        m.attemptResize(QgsLayoutSize(map_wd, map_h, QgsUnitTypes.LayoutMillimeters))
        m.setCrs(p.crs())
        m.setExtent(ext)
        m.setFrameEnabled(True)
        layout.addLayoutItem(m)
        legend = QgsLayoutItemLegend(layout)
        legend.setLinkedMap(m)
        legend.setTitle("")
        # only the layers drawn (not the hidden first date and confidence maps)
        legend.setAutoUpdateModel(False)
        model_root = legend.model().rootGroup()
        for node in list(model_root.findLayers()):
            if not node.isVisible():
                node.parent().removeChildNode(node)
        for group in list(model_root.findGroups()):
            if not group.findLayers():
                group.parent().removeChildNode(group)
        for style, size in ((QgsLegendStyle.Group, 11), (QgsLegendStyle.Subgroup, 9),
                            (QgsLegendStyle.SymbolLabel, 9)):
            font = QFont("DejaVu Sans", size)
            font.setBold(style == QgsLegendStyle.Group)
            legend.rstyle(style).setFont(font)
        legend.setSymbolHeight(3.5)
        legend.adjustBoxSize()
        legend.attemptMove(QgsLayoutPoint(map_wd + 10, 12, QgsUnitTypes.LayoutMillimeters))
        layout.addLayoutItem(legend)
        exporter = QgsLayoutExporter(layout)
        settings = QgsLayoutExporter.ImageExportSettings()
        settings.dpi = 110
        settings.generateWorldFile = False
        settings.exportMetadata = False
        res = exporter.exportToImage(png, settings)
        del exporter, legend, m, title, layout
        p.removeAllMapLayers()
        p.clear()
        if res != QgsLayoutExporter.Success:
            raise SystemExit(f"export failed: {res}")
        print(png)
    finally:
        app.exitQgis()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
