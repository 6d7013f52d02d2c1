"""Mask files: the network's (``climseg infer``) or the heuristic labeller's (``climseg export``) masks as CF netCDF.

This module is the only writer of the format; readers (events, climatology, xarray, CDO, NCO, Panoply, the
ARTMIP tools) open the files directly.

File
----
One file per raw input file, named ``<input stem>.climseg.nc`` (network) or ``<input stem>.labels.nc``
(heuristic labels), where ``<input stem>`` is the input's name without ``.nc``
(``demo.cam.h2.2106-01-01-00000.nc`` -> ``demo.cam.h2.2106-01-01-00000.climseg.nc``). netCDF-4 (HDF5), written
to a temporary name and renamed when complete: a file under its final name is always finished.
The file is built in memory
(HDF5's core driver: about the compressed file's size, a few MB per day of 0.25 degree steps) and written
with one write, so a full disk fails that write cleanly.

Dimensions and coordinates
--------------------------
``time``, ``lat``, ``lon``: exactly the input's, in the input's own order (latitude descending, longitude
-180..180 stay so), with the input's values, dtype and attributes (``units``, ``calendar``, ``long_name``,
...). ``class_id`` (3) indexes ``probability``: int8 0, 1, 2 with the same flags as ``class`` (a dimension
named ``class`` would clash with the variable ``class`` in xarray).

Variables (all int8 unless noted, zlib level 4, one chunk per time step, no ``_FillValue``)
---------------------------------------------------------------------------------------------
``class`` (time, lat, lon)
    0 background, 1 tropical cyclone, 2 atmospheric river (TC wins where both);
    ``flag_values = [0, 1, 2]``, ``flag_meanings = "background tropical_cyclone atmospheric_river"``.
``ar_binary_tag`` (time, lat, lon)
    1 inside an atmospheric river, else 0 (ARTMIP Tier 1 name); ``flag_values = [0, 1]``,
    ``flag_meanings = "no_atmospheric_river atmospheric_river"``.
``tc_binary_tag`` (time, lat, lon)
    1 inside a tropical cyclone, else 0; ``flag_values = [0, 1]``,
    ``flag_meanings = "no_tropical_cyclone tropical_cyclone"``.
``probability`` (class_id, time, lat, lon), optional (``climseg infer --probabilities``)
    uint8 packed, ``scale_factor = 0.004`` (probability = stored * 0.004, 0..250 -> 0..1),
    ``valid_range = [0, 250]``, ``units = "1"``; chunks (3, 1, lat, lon).

Every variable has ``long_name``; ``probability`` has ``units``; the flag variables have none (CF).
As the TC/AR tags are derived from ``class``, an AR pixel overlapped by a TC is tagged TC only.

Global attributes
-----------------
``Conventions = "CF-1.8"``, ``title``, ``history`` (time stamp and command line), ``source`` (climseg version and
what made the masks: model, run directory, checkpoint and step; or the labelling configuration),
``references``, ``climseg_mask_source`` = ``"network"`` or ``"heuristic"``, ``climseg_input_file`` (absolute
path of the raw input), and from ``climseg infer``: ``climseg_training_grid_spacing_deg`` and
``climseg_input_grid_spacing_deg`` ((lat, lon) degrees; the former absent when unknown),
``climseg_missing_values_filled`` (count of NaN input values replaced by the channel's training mean).

Reading
-------
>>> import xarray as xr                                                        # doctest: +SKIP
>>> masks = xr.open_dataset("demo.cam.h2.2106-01-01-00000.climseg.nc")      # decode_cf: time as dates
>>> tc = masks["class"] == 1                                                  # or masks.tc_binary_tag == 1
"""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from typing import NamedTuple

import numpy as np

from climseg import __version__
from climseg.atomic import atomic_output
from climseg.contract import AR, BACKGROUND, NUM_CLASSES, TC
from climseg.disk import reporting_disk_full

NETWORK, HEURISTIC = "network", "heuristic"
"""Values of the global attribute ``climseg_mask_source``."""
SUFFIXES = {NETWORK: ".climseg.nc", HEURISTIC: ".labels.nc"}
"""File name suffix after the input's stem, by mask source."""
CF_CLASS_NAMES = {BACKGROUND: "background", TC: "tropical_cyclone", AR: "atmospheric_river"}
"""``flag_meanings`` words of the class ids."""
PROBABILITY_SCALE = 0.004
"""``scale_factor`` of the packed probabilities: stored uint8 0..250 -> 0..1."""
PROBABILITY_STEPS = 250
COMPRESSION_LEVEL = 4
COORDINATES = ("time", "lat", "lon")
REFERENCES = ("Kurth et al. (2018), Exascale Deep Learning for Climate Analytics, SC18, arXiv:1810.01993; "
              "ARTMIP: Shields et al. (2018), Geosci. Model Dev. 11, 2455-2474, doi:10.5194/gmd-11-2455-2018")


class Coordinate(NamedTuple):
    """A coordinate variable of the input file, as stored (not decoded)."""

    values: np.ndarray
    attrs: dict


def mask_file_name(input_path, mask_source: str) -> str:
    """``<input stem>.climseg.nc`` (network) or ``<input stem>.labels.nc`` (heuristic) of a raw input file."""
    name = Path(input_path).name
    stem = name[: -len(".nc")] if name.endswith(".nc") else Path(name).stem
    return stem + SUFFIXES[mask_source]


def read_source_coordinates(path) -> dict[str, Coordinate]:
    """``time``, ``lat``, ``lon`` of a netCDF file as stored: values (own dtype and order) and attributes.

    Raises OSError naming the file when it cannot be read or lacks one of them.
    """
    import netCDF4

    try:
        with netcdf_lock(), netCDF4.Dataset(path, "r") as source:
            coordinates = {}
            for name in COORDINATES:
                if name not in source.variables:
                    raise OSError(f"{path}: no {name} coordinate variable")
                variable = source.variables[name]
                variable.set_auto_maskandscale(False)
                attrs = {key: variable.getncattr(key) for key in variable.ncattrs() if key != "_FillValue"}
                coordinates[name] = Coordinate(np.asarray(variable[:]), attrs)
    except (RuntimeError, OSError) as error:
        message = str(error)
        raise OSError(message if message.startswith(str(path)) else f"{path}: cannot read coordinates ({message})") \
            from None
    return coordinates


def class_flags(classes) -> tuple[np.ndarray, np.ndarray]:
    """``ar_binary_tag`` and ``tc_binary_tag`` (int8 0/1) of class ids (any shape)."""
    classes = np.asarray(classes)
    return (classes == AR).astype(np.int8), (classes == TC).astype(np.int8)


def pack_probabilities(probabilities) -> np.ndarray:
    """Probabilities in [0, 1] (any shape) -> uint8 0..250 as stored (``value * 0.004`` unpacks)."""
    return np.rint(np.clip(probabilities, 0.0, 1.0) * PROBABILITY_STEPS).astype(np.uint8)


def _flag_variable(dataset, name, dims, chunks, *, long_name, values, meanings, dtype="i1"):
    variable = dataset.createVariable(name, dtype, dims, zlib=True, complevel=COMPRESSION_LEVEL, chunksizes=chunks,
                                      fill_value=False)
    variable.setncatts({"long_name": long_name, "flag_values": np.asarray(values, np.int8), "flag_meanings": meanings})
    return variable


def netcdf_lock():
    """The lock xarray holds around every call into the netCDF-C and HDF5 libraries, which are not thread-safe.

    ``climseg infer`` reads the next batch (through xarray) in a thread while this module writes, so every
    netCDF4 call here holds it too.
    """
    from xarray.backends.netCDF4_ import NETCDF4_PYTHON_LOCK

    return NETCDF4_PYTHON_LOCK


class MaskFile:
    """An open mask file being written; made by :func:`mask_file`. Write each time step once."""

    def __init__(self, dataset, coordinates: dict, *, probabilities: bool):
        with netcdf_lock():
            self._define(dataset, coordinates, probabilities=probabilities)

    def _define(self, dataset, coordinates: dict, *, probabilities: bool):
        self._ds = dataset
        self.shape = tuple(len(coordinates[name].values) for name in COORDINATES)
        for name in COORDINATES:
            values = coordinates[name].values
            dataset.createDimension(name, len(values))
            variable = dataset.createVariable(name, values.dtype, (name,), fill_value=False)
            variable.setncatts(coordinates[name].attrs)
            variable[:] = values
        chunks = (1, *self.shape[1:])
        meanings = " ".join(CF_CLASS_NAMES[i] for i in range(NUM_CLASSES))
        self._class = _flag_variable(dataset, "class", COORDINATES, chunks, values=range(NUM_CLASSES),
                                     long_name="class of each grid point: background, tropical cyclone or "
                                               "atmospheric river", meanings=meanings)
        self._ar = _flag_variable(dataset, "ar_binary_tag", COORDINATES, chunks, values=(0, 1),
                                  long_name="atmospheric river binary tag (1 inside an atmospheric river)",
                                  meanings="no_atmospheric_river atmospheric_river")
        self._tc = _flag_variable(dataset, "tc_binary_tag", COORDINATES, chunks, values=(0, 1),
                                  long_name="tropical cyclone binary tag (1 inside a tropical cyclone)",
                                  meanings="no_tropical_cyclone tropical_cyclone")
        self._probability = None
        if probabilities:
            dataset.createDimension("class_id", NUM_CLASSES)
            class_id = _flag_variable(dataset, "class_id", ("class_id",), None, values=range(NUM_CLASSES),
                                      long_name="class of the probability", meanings=meanings)
            class_id[:] = np.arange(NUM_CLASSES, dtype=np.int8)
            self._probability = dataset.createVariable(
                "probability", "u1", ("class_id", *COORDINATES), zlib=True, complevel=COMPRESSION_LEVEL,
                chunksizes=(NUM_CLASSES, *chunks), fill_value=False)
            self._probability.set_auto_maskandscale(False)  # we write the packed integers ourselves
            self._probability.setncatts({
                "long_name": "probability of each class given by the network", "units": "1",
                "scale_factor": np.float32(PROBABILITY_SCALE), "add_offset": np.float32(0.0),
                "valid_range": np.array([0, PROBABILITY_STEPS], np.uint8)})

    def write(self, start: int, classes: np.ndarray, probabilities: np.ndarray | None = None) -> None:
        """Write time steps ``start, start + 1, ...``.

        Parameters
        ----------
        start : int
            Index of the first time step on the file's time axis.
        classes : ndarray (steps, lat, lon), integer class ids 0..2, in the file's orientation
        probabilities : ndarray (steps, lat, lon, 3) float in [0, 1], or None
            Required when the file was opened with ``probabilities=True``, ignored otherwise.
        """
        classes = np.asarray(classes)
        if classes.shape[1:] != self.shape[1:] or not 0 <= start <= start + len(classes) <= self.shape[0]:
            raise ValueError(f"masks of shape {classes.shape} at time {start} do not fit the file's "
                             f"(time, lat, lon) {self.shape}")
        stop = start + len(classes)
        ar, tc = class_flags(classes)
        packed = None if self._probability is None else pack_probabilities(np.moveaxis(probabilities, -1, 0))
        with netcdf_lock():
            self._class[start:stop] = classes.astype(np.int8)
            self._ar[start:stop] = ar
            self._tc[start:stop] = tc
            if packed is not None:
                self._probability[:, start:stop] = packed

    def set_attributes(self, **attrs) -> None:
        """Add global attributes (e.g. a count known only at the end)."""
        with netcdf_lock():
            self._ds.setncatts(attrs)


def history_line(command: str) -> str:
    """A CF ``history`` entry: UTC time stamp and the command line."""
    return f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} {command}"


IN_MEMORY_INITIAL_BYTES = 1 << 20  # bytes; HDF5's in-memory file grows as needed


@contextlib.contextmanager
def mask_file(path, coordinates: dict, *, mask_source: str, source: str, history: str, title: str,
              input_file, probabilities: bool = False, attrs: dict | None = None):
    """Write a mask file atomically: yields a :class:`MaskFile`; renamed into place when the block succeeds.

    Parameters
    ----------
    path : path of the file to write
    coordinates : dict name -> Coordinate
        ``time``, ``lat``, ``lon`` of the input (:func:`read_source_coordinates`).
    mask_source : {"network", "heuristic"}
    source, history, title : str
        Global attributes (see the module notes; ``history`` from :func:`history_line`).
    input_file : path of the raw input
    probabilities : bool
        Add the ``probability`` variable.
    attrs : dict, optional
        Further global attributes.

    Raises
    ------
    OSError
        The disk filled up (one line naming ``path`` and the space needed); no file is left under ``path``
        or its temporary name, whatever the block raised.
    """
    import netCDF4

    if mask_source not in SUFFIXES:
        raise ValueError(f"mask source must be one of {', '.join(SUFFIXES)}, got {mask_source!r}")
    shape = tuple(len(coordinates[name].values) for name in COORDINATES)
    # The file is built in memory (HDF5's core driver) and written with one plain write: a full disk then
    # fails that write, not HDF5, which otherwise keeps the half-flushed file open and crashes the process
    # when it exits (netCDF4's libhdf5 recurses in H5_term_library).
    with netcdf_lock():
        dataset = netCDF4.Dataset(str(path), "w", format="NETCDF4", memory=IN_MEMORY_INITIAL_BYTES)
    try:
        with netcdf_lock():
            dataset.setncatts({"Conventions": "CF-1.8", "title": title, "history": history, "source": source,
                               "references": REFERENCES, "climseg_mask_source": mask_source,
                               "climseg_input_file": str(Path(input_file).resolve()),
                               "climseg_version": __version__, **(attrs or {})})
        yield MaskFile(dataset, coordinates, probabilities=probabilities)
    except BaseException:
        with contextlib.suppress(Exception), netcdf_lock():
            dataset.close()
        raise
    with netcdf_lock():
        contents = dataset.close()
    with (reporting_disk_full(path, needed_bytes=len(contents), kept="no file was left"),
          atomic_output(path, suffix=".nc.tmp") as tmp, open(tmp, "wb") as out):
        out.write(contents)
