"""The input pipeline: sample files -> shuffle -> parallel HDF5 reads -> normalization -> crop/flip -> batches.

One job per module (which files a rank reads is :func:`climseg.samples.rank_samples`):

- :mod:`~training.data.stats`: per-channel statistics from ``stats.h5``;
- :mod:`~training.data.normalize`: normalization coefficients, and their north-south flip;
- :mod:`~training.data.sample`: one sample file checked, read, cropped, flipped and normalized;
- :mod:`~training.data.order`: the order of files, crops and flips of each epoch (resuming; flips);
- :mod:`~training.data.readers`: the pool of reader processes filling batches in shared memory;
- :mod:`~training.data.dataset`: ``make_dataset``, the ``tf.data.Dataset`` over the readers.

Only :mod:`~training.data.dataset` imports TensorFlow, inside ``make_dataset``; the reader processes import
numpy and h5py alone.
"""

from .dataset import make_dataset, pipeline_error_message
from .normalize import MERIDIONAL_WIND_CHANNELS, normalization_coefficients
from .order import EpochPlan, epoch_plan
from .sample import read_sample, sample_grid
from .stats import ChannelStats, read_stats

__all__ = ["ChannelStats", "EpochPlan", "MERIDIONAL_WIND_CHANNELS",
           "epoch_plan", "make_dataset", "normalization_coefficients", "pipeline_error_message", "read_sample",
           "read_stats", "sample_grid"]
