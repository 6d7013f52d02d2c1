"""CAM5-like model output with planted tropical cyclones and atmospheric rivers (``climseg synth``).

The demo input of the pipeline and the ground truth of the labelling tests. One call writes one day:

- ``<case>.cam.h2.YYYY-MM-DD-00000.nc``: 8 time steps of 3 hours on the CAM5 grid
  (``lat = linspace(-90, 90, n_lat)``, ``lon = arange(n_lon) * 360 / n_lon``), the 16 channels of
  :data:`climseg.contract.CHANNELS` with CAM5 names and units, float32, dims ``(time, lat, lon)``, CF time
  (``days since 2000-01-01 00:00:00``, calendar ``noleap``: 29 February is skipped) and, with ``with_plev``,
  ``Q`` (kg kg-1), ``U``, ``V`` (m s-1) on ``plev`` (Pa, 1000 to 300 hPa, surface first).
- ``<same stem>.truth.h5``: what was planted (never inside the model-output file).

The background is an aquaplanet (no orography: ``PS == PSL``): zonal-mean climate (moist tropics, westerly
jets near 45 N / 50 S, subtropical highs, subpolar lows, temperature falling with latitude and height) plus
smooth noise made of low-order waves in latitude and longitude with random phases that drift eastward with
time. The waves are functions of the coordinates, so the same seed gives the same weather on any grid.
Derived fields are consistent with each other: ``QREFHT`` follows from ``TMQ`` (specific humidity
``q = q_s (p / ps)**3``), ``Z1000`` and ``Z200`` from ``PSL`` and the temperatures (hypsometric equation),
and the ``Q, U, V`` levels integrate back to ``TMQ`` and to an IVT close to ``TMQ * |(U850, V850)|``.

Truth definitions (the labeller is scored against these)
--------------------------------------------------------
TC
    A Holland (1980) vortex: sea-level pressure ``pc + dp * exp(-(rmw / r)**B)``, 850 hPa wind the gradient
    wind of that profile, cyclonic (counter-clockwise in the northern hemisphere, clockwise in the
    southern), surface wind 0.85 times it turned 20 degrees inward. Its **radius** (``radius_km``) is the
    *gale radius*: the distance from the centre beyond which the vortex's own surface wind (without the
    background flow) stays below 17.5 m s-1. ``tc_mask`` is every grid point within that great-circle
    distance of the centre. The moisture and rain of the storm (TMQ and PRECT maxima) fall off as
    ``1 / (1 + (r / radius)**6)``: half their peak at the gale radius, almost nothing beyond. A warm core
    aloft (T500, T200, thus a thicker Z200 - Z1000 layer) decays as a Gaussian of width
    ``max(150 km, 0.6 * radius)``. Storms move a few m s-1, lie within 8..35 degrees of latitude, and stay
    at least 1500 km from each other and from every AR spine.
AR
    A plume along a great-circle arc (the *spine*, ``length_km`` long, centred on ``lat_deg, lon_deg``
    with bearing ``bearing_deg`` there: north-east in the northern hemisphere, south-east in the southern,
    so moisture goes poleward and eastward). With ``d`` the distance from the spine segment (across it,
    and beyond its ends) in units of half the width ``width_km / 2``, the 850 hPa wind gains
    ``wind_anomaly_ms * 2**-(d**2)`` (a Gaussian of full width at half maximum ``width_km``) along the spine,
    and TMQ rises with the flat-topped shape ``S = 2**-(d**4)`` so that the proxy IVT
    ``TMQ * |(U850, V850)|`` equals ``base + (ivt_peak - base) * S``
    (``base`` = background TMQ times the new wind speed): IVT is about 800-1100 kg m-1 s-1 on the spine,
    half-way between the peak and the background at the core's edge, and back to the background within
    about half a width. ``ar_mask`` is the *core*: ``d <= 1``, i.e. ``S >= 1/2`` (a stadium ``width_km`` wide and
    ``length_km + width_km`` long). Spines lie within 28..62 degrees of latitude, drift eastward a few
    m s-1, and stay 1200 km apart. With ``ar_across_meridian`` the first random AR of each day straddles
    the 0/360 meridian at every time step.

Everything is deterministic for a seed: the background waves depend on the seed only (so the weather
evolves continuously from one day to the next), the events on the seed and the date.

Modules: :mod:`~climseg.synth.config` (constants, ``TCSpec``, ``ARSpec``, ``SynthConfig``),
:mod:`~climseg.synth.geometry` (grid, AR spines and plumes), :mod:`~climseg.synth.vortex` (Holland vortex),
:mod:`~climseg.synth.background` (aquaplanet background and derived fields), :mod:`~climseg.synth.placement`
(moving, drawing and planting events), :mod:`~climseg.synth.day` (one day as a Dataset and netCDF file),
:mod:`~climseg.synth.truth` (truth records and file), :mod:`~climseg.synth.tracks` (events along known
tracks over several days), :mod:`~climseg.synth.cli` (``climseg synth``). Everything
public is re-exported here. Only the demo, the tests and the benchmarks import this package; production code
does not.
"""

from climseg.synth.background import (background_fields, derived_fields, pressure_level_fields, smooth_noise,
                                      streamfunction_wind, surface_specific_humidity)
from climseg.synth.cli import model_days, synth_command, synth_parser
from climseg.synth.config import (AR_LAT_BAND_DEG, AR_SEPARATION_KM, AR_TMQ_CAP, CALENDAR, EARTH_RADIUS_KM,
                                  FILL_VALUE, GALE_WIND_MS, GRAVITY, INFLOW_ANGLE_DEG, LONG_NAMES, OMEGA, PLEV_PA,
                                  Q_PROFILE_EXPONENT, R_DRY, RHO_AIR, STEP_SECONDS, STEPS_PER_DAY,
                                  SURFACE_WIND_FACTOR, TC_SEPARATION_KM, TC_TAPER_KM, TIME_UNITS, ARSpec,
                                  SynthConfig, TCSpec, TrackedAR, TrackedTC)
from climseg.synth.day import day_times, file_stem, synthesize_day, write_day
from climseg.synth.geometry import cam5_grid, great_circle_km, plume_shape, spine_points
from climseg.synth.placement import ar_at_step, ar_box, plan_events, plant_ar, plant_tc, tc_at_step
from climseg.synth.tracks import (AR_REGIONS, TC_BASINS, model_hours, plan_tracked_events, run_times,
                                  tracked_ar_at, tracked_tc_at, write_truth_tracks)
from climseg.synth.truth import PlantedAR, PlantedTC, Truth, read_truth, write_truth
from climseg.synth.vortex import gale_radius_km, holland_gradient_wind, holland_pressure_deficit, surface_wind_profile
