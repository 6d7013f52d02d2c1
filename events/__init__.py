"""Events and climatology: from mask files to tropical-cyclone tracks, atmospheric-river objects and statistics.

Pure functions on arrays, with thin command lines (``climseg track``, ``climseg climatology``):

- :mod:`events.reading`: mask files (``climseg infer`` / ``climseg export``) and their raw inputs, one time step
  at a time, on the canonical grid (latitude ascending, longitude ascending in [0, 360)).
- :mod:`events.objects`: connected regions of a class per time step (8-connected, periodic in longitude) with
  area (km2), centroid and, from the raw file, minimum PSL, maximum surface wind, TMQ and IVT.
- :mod:`events.tracks`: TC tracks (nearest neighbour within a travel distance, gaps, minimum duration), the
  TempestExtremes StitchNodes CSV layout, the per-track table (category, ACE).
- :mod:`events.ar_tracks`: AR objects followed in time by overlap (as StitchBlobs), one id per AR.
- :mod:`events.climatology`: statistics streamed over time as partial sums that merge exactly.
- :mod:`events.landmask`: land-sea mask on the data grid (``global-land-mask`` or the input's LANDFRAC).
- :mod:`events.compare`: heuristic vs network: TC tracks matched / missed / false, AR objects by footprint IoU
  (``climseg compare``).
- :mod:`events.plots`, :mod:`events.animate`: the report's figures and the GIF (``climseg animate``).

Every file format is documented in the module that writes it and in ``docs/design.md`` ("Events and
climatology").
"""
