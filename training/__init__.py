"""Training of the segmentation networks: input pipeline, models, loss, IoU, LARC, loop, checkpoints.

Modules (each imports TensorFlow itself, so ``import training`` and ``import training.cli`` stay light):

- ``training.data``: sample file lists (directory, text list, staging ``manifest.json``), ``stats.h5``,
  per-channel normalization and the tf.data input pipeline with parallel HDF5 reads in processes;
- ``training.losses``: class weights from label frequencies and the per-pixel weighted cross-entropy;
- ``training.metrics``: confusion matrix, IoU per class and mean IoU;
- ``training.models``: Tiramisu (FC-DenseNet) and DeepLabv3+;
- ``training.larc``: layer-wise adaptive rate clipping around Adam or SGD;
- ``training.config``, ``training.schedule``, ``training.loop``, ``training.checkpoint``: the run;
- ``training.distributed``: the only module importing Horovod;
- ``training.cli``: ``climseg train``, ``climseg predict``, ``climseg evaluate``;
- ``training.launch``: ``python -m training.launch mpirun ...``, so that a stop signal to the whole job
  ends in a checkpoint (mpirun would kill the ranks first).

Importing this package sets ``TF_USE_LEGACY_KERAS=1`` (unless already set) so that TensorFlow 2.18 uses
Keras 2 (``tf_keras``), which the models, LARC and Horovod's Keras bindings are written for. It must happen
before TensorFlow is first imported, hence here, and TensorFlow itself is not imported here. TensorFlow's
C++ INFO lines (end-of-sequence notices, CPU-feature hints) are hidden unless ``TF_CPP_MIN_LOG_LEVEL`` is set;
warnings and errors still show.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
