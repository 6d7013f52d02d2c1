"""Constants and settings of the generator: physical constants, time axis, event specifications, ``SynthConfig``."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from climseg.sphere import EARTH_RADIUS_KM  # noqa: F401  (re-exported: the generator's Earth)

GRAVITY = 9.80665  # m s-2
R_DRY = 287.05  # J kg-1 K-1
RHO_AIR = 1.15  # kg m-3, boundary-layer air density of the Holland profile
OMEGA = 7.292e-5  # s-1, Earth's rotation rate

STEPS_PER_DAY = 8
STEP_SECONDS = 3 * 3600
TIME_UNITS = "days since 2000-01-01 00:00:00"
CALENDAR = "noleap"
PLEV_PA = (100000.0, 92500.0, 85000.0, 70000.0, 60000.0, 50000.0, 40000.0, 30000.0)
"""Pressure levels of ``Q, U, V`` (Pa), surface first."""

GALE_WIND_MS = 17.5
SURFACE_WIND_FACTOR = 0.85
INFLOW_ANGLE_DEG = 20.0
Q_PROFILE_EXPONENT = 3.0
"""Specific humidity falls as ``(p / ps)**3``: water vapour scale height ~ 1/4 of the pressure scale height."""
TC_TAPER_KM = (1000.0, 1800.0)
"""TC perturbations are faded out between these distances from the centre (a vortex of finite extent)."""
TC_SEPARATION_KM = 1500.0
AR_SEPARATION_KM = 1200.0
AR_LAT_BAND_DEG = (28.0, 62.0)
AR_TMQ_CAP = 55.0  # kg m-2, most water an AR column may hold
FILL_VALUE = np.float32(1.0e36)  # CAM5's _FillValue

LONG_NAMES = {
    "TMQ": "Total (vertically integrated) precipitable water",
    "U850": "Zonal wind at 850 mbar pressure surface",
    "V850": "Meridional wind at 850 mbar pressure surface",
    "UBOT": "Lowest model level zonal wind",
    "VBOT": "Lowest model level meridional wind",
    "QREFHT": "Reference height humidity",
    "PS": "Surface pressure",
    "PSL": "Sea level pressure",
    "T200": "Temperature at 200 mbar pressure surface",
    "T500": "Temperature at 500 mbar pressure surface",
    "PRECT": "Total (convective and large-scale) precipitation rate (liq + ice)",
    "TS": "Surface temperature (radiative)",
    "TREFHT": "Reference height temperature",
    "Z1000": "Geopotential Z at 1000 mbar pressure surface",
    "Z200": "Geopotential Z at 200 mbar pressure surface",
    "ZBOT": "Lowest model level height",
}


# ----------------------------------------------------------------------------------------- configuration
@dataclasses.dataclass(frozen=True)
class TCSpec:
    """A tropical cyclone to plant, as it is at the first time step of the day."""

    lat_deg: float
    lon_deg: float
    pressure_drop_pa: float = 5000.0
    """Central sea-level pressure deficit, Pa (20-80 hPa)."""
    holland_b: float = 1.6
    """Holland's shape parameter B."""
    rmw_km: float = 50.0
    """Radius of maximum wind, km."""
    east_ms: float = -3.0
    """Eastward translation speed, m s-1."""
    north_ms: float = 1.5
    """Northward translation speed, m s-1."""
    warm_core_k: float = 5.0
    """T200 anomaly at the centre, K (T500 gets 0.6 of it)."""
    tmq_anomaly: float = 15.0
    """Extra precipitable water at the centre, kg m-2."""
    prect_anomaly: float = 5e-6
    """Extra precipitation rate at the centre, m s-1."""


@dataclasses.dataclass(frozen=True)
class ARSpec:
    """An atmospheric river to plant, as it is at the first time step of the day."""

    lat_deg: float
    """Latitude of the middle of the spine, degrees."""
    lon_deg: float
    """Longitude of the middle of the spine, degrees."""
    bearing_deg: float
    """Direction of the spine at its middle, degrees clockwise from north."""
    length_km: float = 3500.0
    width_km: float = 600.0
    """Full width at half maximum of the cross-section, km."""
    ivt_peak: float = 900.0
    """Proxy IVT on the spine, kg m-1 s-1."""
    wind_anomaly_ms: float = 15.0
    """850 hPa wind added along the spine, m s-1."""
    speed_ms: float = 6.0
    """Eastward drift of the whole plume, m s-1."""


@dataclasses.dataclass(frozen=True)
class TrackedTC:
    """A TC along a known track: planted at every time step from ``genesis`` to ``genesis + hours``.

    Its position at time ``t`` is ``spec`` moved by ``spec.east_ms``, ``spec.north_ms`` for ``t - genesis``
    (:func:`climseg.synth.tracks.tracked_tc_at`); its strength stays that of ``spec``.
    """

    track_id: int
    genesis: dt.datetime
    hours: float
    """Lifetime: time of the last point minus time of the first, hours."""
    spec: TCSpec
    """The TC at genesis."""
    basin: str = ""


@dataclasses.dataclass(frozen=True)
class TrackedAR:
    """An AR that persists from ``start`` to ``start + hours``, drifting east with ``spec.speed_ms``."""

    track_id: int
    start: dt.datetime
    hours: float
    spec: ARSpec
    """The AR at ``start``."""
    region: str = ""


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    """What :func:`synthesize_day` generates."""

    n_lat: int = 768
    n_lon: int = 1152
    seed: int = 0
    n_tcs: int = 4
    """Random TCs per day (planted at every time step), in addition to ``tcs``."""
    n_ars: int = 4
    """Random ARs per day (planted at every time step), in addition to ``ars``."""
    with_plev: bool = False
    """Also write ``Q, U, V`` on pressure levels (``plev``)."""
    case: str = "synth"
    start_date: dt.date = dt.date(2000, 1, 1)
    tcs: tuple[TCSpec, ...] = ()
    """TCs planted exactly as given (no separation check among them)."""
    ars: tuple[ARSpec, ...] = ()
    """ARs planted exactly as given (no separation check among them)."""
    ar_across_meridian: bool = True
    """The first random AR of each day straddles the 0/360 meridian."""
    tracked_tcs: tuple["TrackedTC", ...] = ()
    """TCs that live over several days along known tracks (:func:`climseg.synth.tracks.plan_tracked_events`)."""
    tracked_ars: tuple["TrackedAR", ...] = ()
    """ARs that persist over several days and drift onto land."""

    def __post_init__(self):
        if self.n_lat < 8 or self.n_lon < 8:
            raise ValueError(f"grid {self.n_lat} x {self.n_lon} too small (at least 8 x 8)")
        if self.n_tcs < 0 or self.n_ars < 0:
            raise ValueError("numbers of TCs and ARs must be >= 0")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
