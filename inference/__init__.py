"""Inference on raw model output and the mask files it writes.

- ``inference.masks``: the mask file format (``<input stem>.climseg.nc`` / ``<input stem>.labels.nc``), its
  one writer, documented in full there;
- ``inference.infer``: raw netCDF -> normalized batches -> the network -> mask files (``climseg infer``), one
  process or many ranks under MPI;
- ``inference.export``: the heuristic labels of ``climseg label`` in the same format (``climseg export``);
- ``inference.cli``: the command lines.

TensorFlow is imported by ``inference.infer`` only; ``inference.masks`` needs netCDF4 and numpy.
"""
