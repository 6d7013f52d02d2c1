"""One sample file: check it, then read, crop, flip and normalize it, in cache-sized blocks of rows.

A sample file holds one (lat, lon, 16) field and its (lat, lon) labels (the data contract in
:mod:`climseg.contract`); our files store labels as uint8, the public DeepCAM files as float32 without
attributes. Both are read alike.
"""

import h5py
import numpy as np

from climseg.contract import CHANNELS, DATA_KEY, LABELS_KEY, NUM_CLASSES

from .normalize import row_coefficients

_ROWS_PER_BLOCK = 32
"""Rows of a sample read and normalized at a time (1152 x 16 x 4 B x 32 = 2.4 MB, cache-sized)."""


def sample_grid(path) -> tuple[int, int]:
    """(lat, lon) points of a sample file, after checking its data sets; errors name the file."""
    with _open_sample(path) as f:
        return _checked_grid(path, f)


def read_sample(path, *, offset: np.ndarray, scale: np.ndarray, crop_origin: tuple[int, int] = (0, 0),
                crop_shape: tuple[int, int] | None = None, flip_latitude: bool = False,
                expected_grid: tuple[int, int] | None = None, out_data: np.ndarray | None = None,
                out_labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read, crop, flip and normalize one sample file.

    Parameters
    ----------
    path : str
    offset, scale : ndarray (16,), float32
        From :func:`normalization_coefficients`: the result is ``(x - offset) * scale``.
    crop_origin : (int, int)
        First (lat, lon) index of the crop.
    crop_shape : (int, int) or None
        (lat, lon) points of the crop; None: the whole grid.
    flip_latitude : bool
        Mirror north-south and negate V850 and VBOT (see the module notes on flips).
    expected_grid : (int, int) or None
        The (lat, lon) grid every file of the data set must have.
    out_data : ndarray (lat, lon, 16), float32, optional
    out_labels : ndarray (lat, lon), int32, optional
        Where to write the result (shared memory in the reader processes); allocated when None.

    Returns
    -------
    data : ndarray (lat, lon, 16), float32, normalized
    labels : ndarray (lat, lon), int32, class ids 0..2

    Raises
    ------
    OSError
        The file is missing, not HDF5, or truncated.
    ValueError
        A data set is missing or has the wrong shape, the grid differs from ``expected_grid``, or the
        labels are not class ids.
    """
    with _open_sample(path) as f:
        grid = _checked_grid(path, f)
        if expected_grid is not None and grid != tuple(expected_grid):
            raise ValueError(f"{path}: grid {grid[0]} x {grid[1]} differs from {expected_grid[0]} x "
                             f"{expected_grid[1]} of the other samples")
        rows, cols = crop_shape or grid
        row0, col0 = crop_origin
        if row0 < 0 or col0 < 0 or row0 + rows > grid[0] or col0 + cols > grid[1]:
            raise ValueError(f"{path}: crop {rows} x {cols} at ({row0}, {col0}) does not fit the grid "
                             f"{grid[0]} x {grid[1]}")
        data = np.empty((rows, cols, len(CHANNELS)), np.float32) if out_data is None else out_data
        labels = np.empty((rows, cols), np.int32) if out_labels is None else out_labels
        offset_row, scale_row = row_coefficients(offset, scale, cols=cols, flip_latitude=flip_latitude)
        try:
            raw_labels = f[LABELS_KEY][row0:row0 + rows, col0:col0 + cols]
            for start in range(0, rows, _ROWS_PER_BLOCK):  # read and normalize while in the cache
                stop = min(start + _ROWS_PER_BLOCK, rows)
                block = data[rows - stop:rows - start] if flip_latitude else data[start:stop]
                f[DATA_KEY].read_direct(block, np.s_[row0 + start:row0 + stop, col0:col0 + cols, :])
                if flip_latitude:
                    block[:] = block[::-1]
                flat = block.reshape(len(block), cols * len(CHANNELS))
                np.subtract(flat, offset_row, out=flat)
                np.multiply(flat, scale_row, out=flat)
        except OSError as error:
            raise OSError(f"{path}: cannot read sample data, truncated or corrupt? ({error})") from None
    _store_labels(path, raw_labels[::-1] if flip_latitude else raw_labels, labels)
    return data, labels


def _open_sample(path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise OSError(f"{path}: no such sample file") from None
    except OSError as error:
        raise OSError(f"{path}: not a readable HDF5 sample file ({error})") from None


def _checked_grid(path, f: h5py.File) -> tuple[int, int]:
    for key in (DATA_KEY, LABELS_KEY):
        if not isinstance(f.get(key), h5py.Dataset):
            raise ValueError(f"{path}: no data set {key}; not a climseg/DeepCAM sample file")
    shape, label_shape = f[DATA_KEY].shape, f[LABELS_KEY].shape
    if len(shape) != 3 or shape[2] != len(CHANNELS):
        raise ValueError(f"{path}: {DATA_KEY} has shape {shape}, expected (lat, lon, {len(CHANNELS)})")
    if label_shape != shape[:2]:
        raise ValueError(f"{path}: {LABELS_KEY} has shape {label_shape}, expected {shape[:2]} like {DATA_KEY}")
    return shape[0], shape[1]


def _store_labels(path, raw: np.ndarray, out: np.ndarray) -> None:
    """Check that ``raw`` (any numeric dtype) holds class ids and write them to ``out`` (int32)."""
    if raw.dtype.kind == "f":
        if not np.all(np.isfinite(raw)) or not np.array_equal(raw, np.round(raw)):
            raise ValueError(f"{path}: {LABELS_KEY} holds values that are not class ids (non-integer or NaN)")
    elif raw.dtype.kind not in "iu":
        raise ValueError(f"{path}: {LABELS_KEY} has dtype {raw.dtype}, expected integers")
    if raw.size and (raw.min() < 0 or raw.max() >= NUM_CLASSES):
        raise ValueError(f"{path}: {LABELS_KEY} holds values in {raw.min():g}..{raw.max():g}, "
                         f"expected class ids 0..{NUM_CLASSES - 1}")
    np.copyto(out, raw, casting="unsafe")
