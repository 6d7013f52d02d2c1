"""Batch normalization statistics at a checkpoint: each rank trains on its own data, ``training.loop.save``
averages the moving statistics over the ranks and rank 0 writes the checkpoint.

Run under ``mpirun -np 2`` with ``--out DIR``: writes ``DIR/run/checkpoints/...`` (rank 0) and
``DIR/rank{R}.npz`` with ``local_*`` (this rank's moving statistics before the save) and ``after_*`` (after).
Rank r's inputs have mean 2 r and standard deviation r + 1, so the ranks' statistics differ.
"""

import argparse
from pathlib import Path

import numpy as np

import training  # noqa: F401  (sets TF_USE_LEGACY_KERAS)
import tensorflow as tf

from training import distributed
from training.checkpoint import TrainingState
from training.config import TrainConfig
from training.loop import batch_norm_statistics, save
from training.run import build_run_model

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True, type=Path)
out = parser.parse_args().out

distributed.init()
rank = distributed.rank()
config = TrainConfig(data="-", stats="-", model_preset="small")
tf.keras.utils.set_random_seed(0)                        # the same weights on every rank
model = build_run_model(config)
rng = np.random.default_rng(rank)
for _ in range(3):                                       # moving statistics follow this rank's batches
    x = rng.normal(2.0 * rank, rank + 1.0, size=(2, 32, 48, 16)).astype(np.float32)  # (batch, lat, lon, channels)
    model(x, training=True)
statistics = batch_norm_statistics(model)
local = [variable.numpy() for variable in statistics]
save(out / "run", TrainingState(model), config, root=distributed.is_root())
after = [variable.numpy() for variable in statistics]
np.savez(out / f"rank{rank}.npz", **{f"local_{i}": a for i, a in enumerate(local)},
         **{f"after_{i}": a for i, a in enumerate(after)}, names=np.array([v.name for v in statistics]))
