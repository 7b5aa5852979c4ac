"""Detection over a raster: blended probability map and reviewable landslide polygons.

Three rooms: ``plan`` (options, the grid over the area, the estimate, the value-range check),
``run`` (probability strips, temporary folder, locks, renames), ``vector`` (polygons, the
GeoPackage and its confidence style). The grid itself is ``mrife.grid``, shared with training.

1. **Plan.** The area (whole raster, an extent in any CRS, and/or polygons) is laid on a grid in
   a metric CRS (the raster's own when projected, else the UTM zone of the area's centre) at the
   model's ground resolution (native resolution for a resolution-agnostic model). When nothing
   needs resampling the grid is a window of the file; otherwise a warped VRT (read lazily).
2. **Probability.** :func:`mrife.inference.stream_predict` visits the tiles row by row and
   blends them; finished rows go straight to a GeoTIFF, so memory is one strip of tiles whatever
   the area's height. Pixels that are nodata (in every mapped band), outside the raster or
   outside the area are excluded: probability nodata (-1) and never part of a polygon.
3. **Polygons.** The thresholded map is polygonised by GDAL (4-connected, holes kept) over the
   whole area at once, so polygons that cross tile seams are whole. Polygons smaller than the
   minimum area are dropped. Mean and max probability come from the pixels each polygon covers.
   Outlines are simplified by at most half a pixel (this removes the staircase of pixel edges and
   nothing the data resolves), then reprojected to the output CRS.
4. **Nothing half-done.** Every output is written in a temporary folder beside the destination
   and renamed into place at the end; a cancel or an error removes the folder. The destinations
   are locked for the run (a second run writing the same files is refused), and the temporary
   folders of killed runs are removed by the next run (``leftovers``).

Pixels that are not finite (NaN, inf in float imagery) are invalid, exactly like nodata.
"""

from .plan import (
    DetectionError,
    DetectOptions,
    DetectPlan,
    make_grid,
    plan_detection,
    seconds_per_tile,
    value_mapping,
)
from .run import PROB_NODATA, TEMP_PREFIX, DetectResult, check_destination, detect
from .vector import LAYER_NAME, style

__all__ = ["DetectOptions", "DetectPlan", "DetectResult", "DetectionError", "LAYER_NAME",
           "PROB_NODATA", "TEMP_PREFIX", "check_destination", "detect", "make_grid",
           "plan_detection", "seconds_per_tile", "style", "value_mapping"]
