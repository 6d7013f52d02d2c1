"""Heuristic labels of tropical cyclones and atmospheric rivers in CAM5 output (``climseg label``).

The science, as small functions over (lat, lon) arrays in physical units:

- :mod:`labeling.grid`: spherical geometry (cell areas, great circles, vorticity, periodic regions);
- :mod:`labeling.ivt`: integrated vapour transport, on pressure levels or the 2-D proxy;
- :mod:`labeling.ar`: atmospheric rivers (IVT percentile, tropical damping, geometric filters);
- :mod:`labeling.tc`: tropical-cyclone centres (TECA criteria), radii and footprints;
- :mod:`labeling.labels`: one time step to a 0/1/2 label map;
- :mod:`labeling.score`: hit rate, centre error and IoU against ``climseg synth`` truth;
- :mod:`labeling.config`: every threshold, as frozen dataclasses.

Reading netCDF, writing samples, statistics and plots live in their own modules and load xarray,
h5py or matplotlib only when used.
"""

from labeling.ar import atmospheric_river_mask, atmospheric_river_regions
from labeling.config import ARConfig, IVTConfig, LabelConfig, TCConfig
from labeling.ivt import integrated_vapor_transport, ivt_proxy
from labeling.labels import LabelResult, label_time_step
from labeling.score import Score, ScoreAccumulator, mask_iou, match_centres, score_results, score_sample_files
from labeling.tc import TCCentre, detect_tc_centres, tropical_cyclone_mask

__all__ = [
    "ARConfig", "IVTConfig", "LabelConfig", "TCConfig", "LabelResult", "Score", "ScoreAccumulator", "TCCentre",
    "atmospheric_river_mask", "atmospheric_river_regions", "detect_tc_centres", "integrated_vapor_transport",
    "ivt_proxy", "label_time_step", "mask_iou", "match_centres", "score_results", "score_sample_files",
    "tropical_cyclone_mask",
]
