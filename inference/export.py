"""``climseg export``: the heuristic labels of ``climseg label`` as mask files (``<input stem>.labels.nc``).

The same reader (:func:`labeling.reading.open_model_output`), the same labeller
(:func:`labeling.labels.label_time_step`) and the same configuration as ``climseg label``, so the classes
equal the ``climate/labels_0`` of the sample files ``climseg label`` writes, time step for time step; written
by the writer of the network's masks (:mod:`inference.masks`), on the input's own grid and orientation.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from climseg import __version__
from inference.infer import source_order
from inference.masks import HEURISTIC, mask_file, read_source_coordinates


def export_labels(path, out_path, *, config, history: str = "", on_step=None) -> Path:
    """Label every time step of one raw netCDF file and write its label file ``out_path`` atomically.

    Parameters
    ----------
    path : path of a CAM5-style netCDF file
    out_path : path of the ``.labels.nc`` file
    config : labeling.config.LabelConfig
    history : str
        The ``history`` attribute.
    on_step : callable() or None
        Called after each time step.

    Raises
    ------
    ValueError, OSError
        One line naming the file; no output file is left.
    """
    from labeling.labels import label_model_steps
    from labeling.reading import open_model_output

    path = Path(path)
    with open_model_output(path) as model:
        coordinates = read_source_coordinates(path)
        lat_back, lon_back = source_order(coordinates["lat"].values, coordinates["lon"].values)
        source = f"climseg {__version__}: heuristic labeller of climseg label, configuration " \
                 f"{json.dumps(config.to_dict(), sort_keys=True)}"
        title = f"Tropical cyclone and atmospheric river labels of {path.name} by the climseg heuristics"
        with mask_file(out_path, coordinates, mask_source=HEURISTIC, source=source, history=history, title=title,
                       input_file=path) as labels:
            for step, _, _, result in label_model_steps(model, config=config):
                labels.write(step, result.labels[np.newaxis][:, lat_back][:, :, lon_back])
                if on_step is not None:
                    on_step()
    return Path(out_path)
