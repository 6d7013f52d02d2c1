"""climseg: extreme-weather segmentation in climate simulations.

Three stages, each a package of its own: :mod:`labeling` (raw CAM5 output -> labelled samples),
:mod:`staging` (samples -> node-local storage over MPI) and :mod:`training` (Tiramisu / DeepLabv3+
with TensorFlow and Horovod). This package holds what they share: the data contract
(:mod:`climseg.contract`), crash-safe file writing (:mod:`climseg.atomic`), the demo-data generator
(:mod:`climseg.synth`) and the ``climseg`` command line (:mod:`climseg.cli`).
"""

__version__ = "0.1.0"
