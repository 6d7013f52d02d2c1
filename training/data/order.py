"""The order of samples: which file, crop and flip comes when, a function of ``(seed, epoch)`` only.

The stream of samples is epoch 0, epoch 1, ... (``repeat=True``) or one epoch (``repeat=False``). Each
epoch visits every file once, in an order (and with crop origins and flips) drawn from
``numpy.random.default_rng([seed, epoch])`` only: the same ``seed`` gives the same batches, whatever the
number of workers or the timing of reads. A resumed run passes ``skip_batches`` (the steps already taken)
and sees exactly the batches an uninterrupted run would have seen next; ``epoch`` starts the stream at a
given epoch.

Flips
-----
``flips=True`` mirrors a sample north-south with probability 1/2, and negates the meridional wind
channels (V850, VBOT) so the mirrored field is still a physically consistent flow: a northern-hemisphere
cyclone (counter-clockwise) becomes a clockwise, i.e. southern-hemisphere, cyclone, as the labels say
(the TC criteria flip the sign of vorticity south of the equator), and atmospheric rivers keep their
poleward, eastward orientation. An east-west mirror has no such reading (it would make northern
cyclones turn clockwise) and is not offered. Flips are off by default: the climate of the two
hemispheres is not symmetric (land, seasons), so a mirrored sample is plausible, not exact.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EpochPlan:
    """What one epoch reads: file indices in order, crop origins (n, 2) and north-south flips (n,)."""

    order: np.ndarray
    crop_origins: np.ndarray
    flips: np.ndarray


def epoch_plan(num_files: int, *, seed: int, epoch: int, shuffle: bool, grid: tuple[int, int],
               crop: tuple[int, int] | None, flips: bool) -> EpochPlan:
    """The file order, crop origins and flips of one epoch, a function of ``(seed, epoch)`` only."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(num_files) if shuffle else np.arange(num_files)
    rows, cols = crop or grid
    origins = np.stack([rng.integers(0, grid[0] - rows + 1, num_files),
                        rng.integers(0, grid[1] - cols + 1, num_files)], axis=1)
    flipped = (rng.random(num_files) < 0.5) if flips else np.zeros(num_files, bool)
    return EpochPlan(order=order, crop_origins=origins, flips=flipped)


def sample_tasks(files, *, seed, epoch, skip_samples, repeat, shuffle, grid, crop, flips, read_kwargs):
    """(path, keyword arguments of :func:`read_sample`) of every sample of the stream, in order."""
    epoch, position = epoch + skip_samples // len(files), skip_samples % len(files)
    while True:
        plan = epoch_plan(len(files), seed=seed, epoch=epoch, shuffle=shuffle, grid=grid, crop=crop, flips=flips)
        for i in range(position, len(files)):
            yield files[plan.order[i]], dict(read_kwargs, crop_origin=tuple(int(v) for v in plan.crop_origins[i]),
                                             flip_latitude=bool(plan.flips[i]))
        if not repeat:
            return
        epoch, position = epoch + 1, 0
