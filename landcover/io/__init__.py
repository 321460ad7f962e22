"""Input/output at the edges: scene discovery, windowed reads, COG and GeoPackage writing."""
