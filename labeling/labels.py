"""One time step in, one label map out: IVT -> tropical cyclones -> atmospheric rivers -> classes."""

from typing import NamedTuple

import numpy as np

from labeling.ar import atmospheric_river_mask, ivt_threshold
from labeling.config import LabelConfig
from labeling.grid import check_grid, disc_window
from labeling.ivt import integrated_vapor_transport, ivt_proxy
from labeling.sample import class_map
from labeling.tc import detect_tc_centres, tropical_cyclone_mask, vorticity_reach_km, vorticity_threshold_on_grid


class LabelResult(NamedTuple):
    """Labels of one time step and what they were made from."""

    labels: np.ndarray
    """uint8 (lat, lon): 0 background, 1 TC, 2 AR (climseg.contract)."""
    ivt: np.ndarray
    """float64 (lat, lon), kg m-1 s-1, IVT magnitude (from levels or the proxy)."""
    ar_mask: np.ndarray
    """bool (lat, lon)."""
    tc_mask: np.ndarray
    """bool (lat, lon)."""
    tc_centres: list
    """list of labeling.tc.TCCentre."""
    thresholds: dict = None
    """The thresholds applied to this time step beside the configured ones (:func:`applied_thresholds`)."""


def applied_thresholds(lat_deg, config: LabelConfig, *, ivt_kg_m_s: float) -> dict:
    """The thresholds a time step was labelled with, beside what the configuration asked for.

    Parameters
    ----------
    lat_deg : ndarray (lat,), degrees, the grid's latitudes (the vorticity threshold depends on their spacing)
    config : LabelConfig
    ivt_kg_m_s : float, the AR threshold on the damped IVT of this time step (percentile value, floored)

    Returns
    -------
    dict (JSON-serialisable)::

        {"tc_vorticity_per_s": {"configured", "applied", "difference_half_width_km"},
         "ar_ivt_kg_m_s": {"percentile", "floor", "applied"}}
    """
    tc = config.tc
    return {
        "tc_vorticity_per_s": {
            "configured": tc.vorticity_threshold_per_s,
            "applied": vorticity_threshold_on_grid(lat_deg, config=tc),
            "difference_half_width_km": vorticity_reach_km(lat_deg, tc.vorticity_scale_km),
        },
        "ar_ivt_kg_m_s": {"percentile": config.ar.percentile, "floor": config.ar.min_ivt_kg_m_s,
                          "applied": float(ivt_kg_m_s) if np.isfinite(ivt_kg_m_s) else None},  # None: all IVT missing
    }


def ivt_source(source: str, levels) -> str:
    """Which IVT a time step gets: ``"levels"`` (the column integral) or ``"proxy"`` (TMQ * V850).

    ``source`` is ``IVTConfig.source``: ``"auto"`` integrates where pressure levels are given, ``"levels"``
    requires them (ValueError without), ``"proxy"`` never integrates.
    """
    if source == "levels" and levels is None:
        raise ValueError("IVT source 'levels' needs Q, U, V on pressure levels; the input has none")
    return "levels" if levels is not None and source in ("auto", "levels") else "proxy"


def label_time_step(fields, lat_deg, lon_deg, *, config: LabelConfig, levels=None) -> LabelResult:
    """Label tropical cyclones and atmospheric rivers in one time step.

    Parameters
    ----------
    fields : mapping of CAM5 name -> ndarray (lat, lon)
        The channels of ``climseg.contract.CHANNELS`` in CAM5 units (NaN = missing).
    lat_deg, lon_deg : ndarray (lat,), (lon,), degrees, latitude ascending, longitude ascending in [0, 360)
    config : LabelConfig
    levels : dict, optional
        ``Q`` (kg kg-1), ``U``, ``V`` (m s-1) of shape (plev, lat, lon) and ``plev`` (Pa); with them
        IVT is integrated over the column, without them it is the TMQ * V850 proxy (per
        ``config.ivt.source``).

    Returns
    -------
    LabelResult

    Notes
    -----
    TCs are found first. Cells within ``config.tc_exclusion_radius_factor`` radii of a TC centre, and
    the TC mask itself, are excluded from the AR search, so a TC core (the highest IVT on the map)
    never becomes or joins an AR. Where both masks still overlap, TC wins.
    """
    lat, lon = check_grid(lat_deg, lon_deg)
    if ivt_source(config.ivt.source, levels) == "levels":
        missing = [k for k in ("Q", "U", "V", "plev") if k not in levels]
        if missing:
            raise ValueError(f"pressure-level input lacks {', '.join(missing)}")
        _, _, ivt = integrated_vapor_transport(levels["Q"], levels["U"], levels["V"], levels["plev"], fields["PS"])
    else:
        _, _, ivt = ivt_proxy(fields["TMQ"], fields["U850"], fields["V850"])

    centres = detect_tc_centres(fields, lat, lon, config=config.tc)
    tc_mask = tropical_cyclone_mask(fields, lat, lon, centres, config=config.tc)

    exclude = tc_mask.copy()
    for c in centres:
        reach = config.tc_exclusion_radius_factor * c.radius_km
        if reach > 0:
            rows, cols, dist = disc_window(lat, lon, c.lat_deg, c.lon_deg, reach)
            exclude[np.ix_(rows, cols)] |= dist <= reach
    threshold = ivt_threshold(ivt, lat, config=config.ar)
    ar_mask = atmospheric_river_mask(ivt, lat, lon, config=config.ar, exclude=exclude, threshold=threshold)

    return LabelResult(class_map(tc_mask, ar_mask), ivt, ar_mask & ~tc_mask, tc_mask, centres,
                       applied_thresholds(lat, config, ivt_kg_m_s=threshold))


def label_model_steps(model, *, config: LabelConfig):
    """Label every time step of an open model output file (:func:`labeling.reading.open_model_output`).

    Yields ``(step, fields, levels, LabelResult)`` per time step, in order (``fields`` and ``levels`` as
    ``model.read_step`` returns them). A step that cannot be labelled raises ValueError naming the file,
    the time step and the problem.
    """
    for step in range(len(model)):
        fields, levels = model.read_step(step)
        try:
            result = label_time_step(fields, model.lat_deg, model.lon_deg, config=config, levels=levels)
        except ValueError as error:
            raise ValueError(f"{model.path}: time step {step} ({model.time_label(step)}): {error}") from None
        yield step, fields, levels, result
