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
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path

import numpy as np

from climseg.atomic import atomic_output
from climseg.contract import CHANNEL_UNITS, CHANNELS

EARTH_RADIUS_KM = 6371.0
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

    def __post_init__(self):
        if self.n_lat < 8 or self.n_lon < 8:
            raise ValueError(f"grid {self.n_lat} x {self.n_lon} too small (at least 8 x 8)")
        if self.n_tcs < 0 or self.n_ars < 0:
            raise ValueError("numbers of TCs and ARs must be >= 0")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")


# ----------------------------------------------------------------------------------------- truth
@dataclasses.dataclass(frozen=True)
class PlantedTC:
    """A planted TC at one time step."""

    step: int
    id: int
    lat_deg: float
    lon_deg: float
    """In [0, 360)."""
    radius_km: float
    """Gale radius: the vortex's own surface wind is below 17.5 m s-1 beyond it."""
    rmw_km: float
    max_wind_ms: float
    """Maximum of the vortex's own surface wind."""
    pressure_drop_pa: float


@dataclasses.dataclass(frozen=True)
class PlantedAR:
    """A planted AR at one time step (the middle of its spine)."""

    step: int
    id: int
    lat_deg: float
    lon_deg: float
    bearing_deg: float
    length_km: float
    width_km: float
    ivt_peak: float


@dataclasses.dataclass(eq=False)
class Truth:
    """What was planted in one day of generated data."""

    times: list[dt.datetime]
    lat_deg: np.ndarray
    """(lat,) ascending."""
    lon_deg: np.ndarray
    """(lon,) in [0, 360) ascending."""
    tcs: list[PlantedTC]
    ars: list[PlantedAR]
    tc_mask: np.ndarray
    """bool (time, lat, lon): within the gale radius of a planted TC."""
    ar_mask: np.ndarray
    """bool (time, lat, lon): inside a planted AR's core (plume shape >= 1/2)."""

    def tcs_at(self, step: int) -> list[PlantedTC]:
        """The TCs of time step ``step``."""
        return [tc for tc in self.tcs if tc.step == step]

    def ars_at(self, step: int) -> list[PlantedAR]:
        """The ARs of time step ``step``."""
        return [ar for ar in self.ars if ar.step == step]


# ----------------------------------------------------------------------------------------- geometry
def cam5_grid(n_lat: int, n_lon: int) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes (n_lat,) from -90 to 90 and longitudes (n_lon,) from 0 to 360 (exclusive), degrees."""
    return np.linspace(-90.0, 90.0, n_lat), np.arange(n_lon) * (360.0 / n_lon)


def great_circle_km(lat1_deg, lon1_deg, lat2_deg, lon2_deg):
    """Great-circle distance (km) between points given in degrees (broadcasting, haversine)."""
    phi1, phi2 = np.deg2rad(lat1_deg), np.deg2rad(lat2_deg)
    dphi = phi2 - phi1
    dlam = np.deg2rad(np.asarray(lon2_deg) - np.asarray(lon1_deg))
    h = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _unit_vector(lat_deg, lon_deg):
    phi, lam = np.deg2rad(lat_deg), np.deg2rad(lon_deg)
    return np.stack(np.broadcast_arrays(np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)), -1)


def _spine_frame(lat_deg, lon_deg, bearing_deg):
    """Unit vectors: the spine's middle ``m``, its direction there ``t`` and the great circle's normal."""
    phi, lam, beta = np.deg2rad(lat_deg), np.deg2rad(lon_deg), np.deg2rad(bearing_deg)
    m = _unit_vector(lat_deg, lon_deg)
    east = np.array([-np.sin(lam), np.cos(lam), 0.0])
    north = np.array([-np.sin(phi) * np.cos(lam), -np.sin(phi) * np.sin(lam), np.cos(phi)])
    t = np.sin(beta) * east + np.cos(beta) * north
    return m, t, np.cross(m, t)


def spine_points(ar: ARSpec, *, spacing_km: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes and longitudes (degrees, lon in [0, 360)) of points along an AR's spine."""
    m, t, _ = _spine_frame(ar.lat_deg, ar.lon_deg, ar.bearing_deg)
    half = ar.length_km / 2 / EARTH_RADIUS_KM
    s = np.linspace(-half, half, max(3, int(ar.length_km / spacing_km) + 1))
    p = np.cos(s)[:, None] * m + np.sin(s)[:, None] * t
    return np.rad2deg(np.arcsin(np.clip(p[:, 2], -1, 1))), np.rad2deg(np.arctan2(p[:, 1], p[:, 0])) % 360.0


def plume_shape(lat_deg: np.ndarray, lon_deg: np.ndarray, ar: ARSpec):
    """Shape ``S`` of an AR plume and the unit direction of its spine on a grid.

    Parameters
    ----------
    lat_deg : ndarray (lat,), degrees
    lon_deg : ndarray (lon,), degrees
    ar : ARSpec

    Returns
    -------
    smooth : ndarray (lat, lon), 0..1
        Gaussian plume ``c(x) * a(s)`` (the wind anomaly's shape).
    flat : ndarray (lat, lon), 0..1
        Flat-topped plume (the moisture's shape): ``2**-(d**4)`` where ``smooth = 2**-(d**2)``.
        Both are 1/2 on the edge of the core.
    east, north : ndarray (lat, lon)
        Components of the unit vector along the spine (direction of increasing along-spine distance).
    """
    m, t, normal = _spine_frame(ar.lat_deg, ar.lon_deg, ar.bearing_deg)
    phi = np.deg2rad(lat_deg)[:, None]
    lam = np.deg2rad(lon_deg)[None, :]
    cos_phi, sin_phi, cos_lam, sin_lam = np.cos(phi), np.sin(phi), np.cos(lam), np.sin(lam)
    px, py, pz = cos_phi * cos_lam, cos_phi * sin_lam, sin_phi * np.ones_like(lam)
    across_km = EARTH_RADIUS_KM * np.arcsin(np.clip(px * normal[0] + py * normal[1] + pz * normal[2], -1, 1))
    along_km = EARTH_RADIUS_KM * np.arctan2(px * t[0] + py * t[1] + pz * t[2], px * m[0] + py * m[1] + pz * m[2])
    beyond_km = np.maximum(np.abs(along_km) - ar.length_km / 2, 0.0)
    half_width = ar.width_km / 2
    distance2 = (across_km / half_width) ** 2 + (beyond_km / half_width) ** 2  # 1 on the core's edge
    # direction of travel along the great circle at each point: normal x p
    dx = normal[1] * pz - normal[2] * py
    dy = normal[2] * px - normal[0] * pz
    dz = normal[0] * py - normal[1] * px
    east = -sin_lam * dx + cos_lam * dy
    north = -sin_phi * cos_lam * dx - sin_phi * sin_lam * dy + cos_phi * dz
    norm = np.maximum(np.hypot(east, north), 1e-12)
    return np.exp2(-distance2), np.exp2(-(distance2**2)), east / norm, north / norm


# ----------------------------------------------------------------------------------------- TC vortex
def holland_gradient_wind(r_km, *, pressure_drop_pa, holland_b, rmw_km, lat_deg):
    """Gradient wind (m s-1) of a Holland (1980) pressure profile at distance ``r_km`` from the centre."""
    r_m = np.maximum(np.asarray(r_km, dtype=float), 1e-3) * 1e3
    f = abs(2 * OMEGA * math.sin(math.radians(lat_deg)))
    x = (rmw_km * 1e3 / r_m) ** holland_b
    with np.errstate(over="ignore", under="ignore"):
        cyclostrophic = holland_b * pressure_drop_pa / RHO_AIR * x * np.exp(-x)
    return np.sqrt(cyclostrophic + (r_m * f / 2) ** 2) - r_m * f / 2


def holland_pressure_deficit(r_km, *, pressure_drop_pa, holland_b, rmw_km):
    """Sea-level pressure below the environment (Pa, positive) at distance ``r_km`` from the centre."""
    r_m = np.maximum(np.asarray(r_km, dtype=float), 1e-3) * 1e3
    with np.errstate(over="ignore", under="ignore"):
        return pressure_drop_pa * (1 - np.exp(-((rmw_km * 1e3 / r_m) ** holland_b)))


def surface_wind_profile(tc: TCSpec, lat_deg: float, *, max_km: float = 3000.0, step_km: float = 0.5):
    """Radii (km) and the vortex's own surface wind speed there (m s-1)."""
    r_km = np.arange(step_km, max_km, step_km)
    wind = SURFACE_WIND_FACTOR * holland_gradient_wind(
        r_km, pressure_drop_pa=tc.pressure_drop_pa, holland_b=tc.holland_b, rmw_km=tc.rmw_km, lat_deg=lat_deg)
    return r_km, wind


def gale_radius_km(tc: TCSpec, lat_deg: float) -> float:
    """Distance (km) beyond which the vortex's own surface wind stays below 17.5 m s-1 (0 if never above)."""
    r_km, wind = surface_wind_profile(tc, lat_deg)
    above = np.nonzero(wind >= GALE_WIND_MS)[0]
    return float(r_km[above[-1]]) if above.size else 0.0


def _taper(r_km):
    inner, outer = TC_TAPER_KM
    x = np.clip((r_km - inner) / (outer - inner), 0.0, 1.0)
    return 0.5 * (1 + np.cos(np.pi * x))


# ----------------------------------------------------------------------------------------- background
@dataclasses.dataclass(frozen=True)
class _Waves:
    """Low-order waves ``cos(n phi + beta) cos(m lambda + gamma + omega t)`` summed with ``amplitude``."""

    m: np.ndarray
    n: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray
    omega: np.ndarray
    amplitude: np.ndarray


def _random_waves(rng, *, count: int = 12, max_m: int = 7, max_n: int = 7, amplitude=1.0) -> _Waves:
    m = rng.integers(1, max_m + 1, count)
    n = rng.integers(1, max_n + 1, count)
    phase_speed_ms = rng.uniform(3.0, 12.0, count)  # eastward
    omega = -phase_speed_ms * m / (EARTH_RADIUS_KM * 1e3 * math.cos(math.radians(45)))
    return _Waves(m=m, n=n, beta=rng.uniform(0, 2 * np.pi, count), gamma=rng.uniform(0, 2 * np.pi, count),
                  omega=omega, amplitude=amplitude * rng.choice([-1.0, 1.0], count) * math.sqrt(2.0 / count))


def _zonal_cos(lon_deg, seconds, waves: _Waves):
    arg = np.outer(waves.m, np.deg2rad(lon_deg)) + (waves.gamma + waves.omega * seconds)[:, None]
    return np.cos(arg), np.sin(arg)  # (K, lon)


def smooth_noise(lat_deg, lon_deg, seconds: float, waves: _Waves) -> np.ndarray:
    """Smooth large-scale noise (lat, lon) of about unit size; resolution independent."""
    phi = np.deg2rad(lat_deg)[:, None]
    profiles = np.cos(phi) * np.cos(waves.n * phi + waves.beta) * waves.amplitude  # (lat, K)
    cos_part, _ = _zonal_cos(lon_deg, seconds, waves)
    return profiles @ cos_part


def streamfunction_wind(lat_deg, lon_deg, seconds: float, waves: _Waves):
    """Non-divergent wind (u, v), m s-1, of the streamfunction ``sum a cos^2(phi) cos(n phi + beta) cos(...)``."""
    phi = np.deg2rad(lat_deg)[:, None]
    radius_m = EARTH_RADIUS_KM * 1e3
    a = waves.amplitude * radius_m / np.maximum(waves.m, waves.n)  # wave amplitude (m2 s-1) for ~1 m s-1
    wave = waves.n * phi + waves.beta
    d_profile = -2 * np.cos(phi) * np.sin(phi) * np.cos(wave) - waves.n * np.cos(phi) ** 2 * np.sin(wave)
    cos_part, sin_part = _zonal_cos(lon_deg, seconds, waves)
    u = (-a / radius_m * d_profile) @ cos_part  # u = -(1/R) dpsi/dphi
    v = (-a * waves.m / radius_m * np.cos(phi) * np.cos(wave)) @ sin_part  # v = (1/(R cos phi)) dpsi/dlambda
    return u, v


def _background_waves(seed: int) -> dict[str, _Waves]:
    rng = np.random.default_rng([seed, 0])
    return {name: _random_waves(rng) for name in ("temperature", "upper", "moisture", "pressure", "rain", "wind")}


def background_fields(lat_deg, lon_deg, seconds: float, waves: dict[str, _Waves]) -> dict[str, np.ndarray]:
    """Zonal-mean climate plus smooth noise: TS, TREFHT, T500, T200, TMQ, U850, V850, PSL, PRECT (lat, lon)."""
    lat = lat_deg[:, None]
    cos2 = np.cos(np.deg2rad(lat)) ** 2
    noise = {name: smooth_noise(lat_deg, lon_deg, seconds, w) for name, w in waves.items() if name != "wind"}
    u_noise, v_noise = streamfunction_wind(lat_deg, lon_deg, seconds, waves["wind"])
    ts = 248.0 + 52.0 * cos2 + 2.5 * noise["temperature"]
    tmq = (4.0 + 42.0 * np.exp(-((lat / 33.0) ** 2))) * np.exp(0.18 * noise["moisture"])
    fields = {
        "TS": ts,
        "TREFHT": ts - 1.0,
        "T500": 236.0 + 31.0 * cos2 + 2.0 * noise["temperature"] + 1.0 * noise["upper"],
        "T200": 214.0 + 6.0 * np.exp(-(((np.abs(lat) - 45.0) / 18.0) ** 2)) + 1.5 * noise["upper"],
        "TMQ": np.maximum(tmq, 2.0),
        "U850": (9.0 * np.exp(-(((lat - 45.0) / 11.0) ** 2)) + 11.0 * np.exp(-(((lat + 50.0) / 11.0) ** 2))
                 - 5.0 * np.exp(-((lat / 14.0) ** 2)) + 5.0 * u_noise),
        "V850": 5.0 * v_noise,
        "PSL": (101325.0 + 900.0 * np.exp(-(((np.abs(lat) - 32.0) / 10.0) ** 2))
                - 1400.0 * np.exp(-(((np.abs(lat) - 62.0) / 10.0) ** 2)) - 250.0 * np.exp(-((lat / 8.0) ** 2))
                + 600.0 * noise["pressure"]),
    }
    mm_per_day = 2.5 * (fields["TMQ"] / 25.0) ** 2 * np.exp(0.6 * noise["rain"])
    fields["PRECT"] = mm_per_day / 8.64e7  # m s-1
    return fields


def derived_fields(fields: dict[str, np.ndarray]) -> None:
    """Add PS, QREFHT, Z1000, Z200, ZBOT consistent with PSL, TMQ and the temperatures (in place)."""
    fields["PS"] = fields["PSL"].copy()  # aquaplanet: no orography
    fields["QREFHT"] = 0.95 * surface_specific_humidity(fields["TMQ"], fields["PS"])
    virtual_t = fields["TREFHT"] * (1 + 0.61 * fields["QREFHT"])
    fields["Z1000"] = R_DRY * virtual_t / GRAVITY * np.log(fields["PSL"] / 1e5)
    layer_t = 0.3 * fields["TREFHT"] + 0.45 * fields["T500"] + 0.25 * fields["T200"]
    fields["Z200"] = fields["Z1000"] + R_DRY * layer_t / GRAVITY * math.log(1000.0 / 200.0)
    fields["ZBOT"] = R_DRY * virtual_t / GRAVITY * -math.log(0.992)  # lowest model level at 0.992 ps


def surface_specific_humidity(tmq, ps_pa):
    """Specific humidity (kg kg-1) at the surface of a ``q_s (p / ps)**3`` column holding ``tmq`` kg m-2."""
    return tmq * GRAVITY * (Q_PROFILE_EXPONENT + 1) / ps_pa


def pressure_level_fields(fields: dict[str, np.ndarray], plev_pa=PLEV_PA) -> dict[str, np.ndarray]:
    """Q (kg kg-1), U, V (m s-1) on pressure levels (plev, lat, lon), consistent with the 2-D fields.

    ``Q = q_s (p / ps)**3`` integrates to TMQ over the whole column; U and V go linearly from UBOT/VBOT at
    the surface to U850/V850 at 850 hPa and increase by 30 % from there to 300 hPa. Levels below the
    surface hold the same formulas extrapolated.
    """
    p = np.asarray(plev_pa, dtype=float)[:, None, None]
    ps = fields["PS"][None]
    q = surface_specific_humidity(fields["TMQ"], fields["PS"])[None] * (p / ps) ** Q_PROFILE_EXPONENT
    lower = np.clip((ps - p) / np.maximum(ps - 85000.0, 1.0), 0.0, 1.0)  # 0 at the surface, 1 at 850 hPa
    upper = 1 + 0.3 * np.clip((85000.0 - p) / 55000.0, 0.0, None)
    below_850 = p >= 85000.0
    out = {"Q": q}
    for name, bottom, at_850 in (("U", "UBOT", "U850"), ("V", "VBOT", "V850")):
        low = fields[bottom][None] + (fields[at_850] - fields[bottom])[None] * lower
        out[name] = np.where(below_850, low, fields[at_850][None] * upper)
    return out


# ----------------------------------------------------------------------------------------- events
def _moved(lat_deg, lon_deg, east_ms, north_ms, seconds):
    lat = lat_deg + math.degrees(north_ms * seconds / (EARTH_RADIUS_KM * 1e3))
    lon = lon_deg + math.degrees(east_ms * seconds / (EARTH_RADIUS_KM * 1e3 * math.cos(math.radians(lat))))
    return lat, lon % 360.0


def tc_at_step(tc: TCSpec, step: int) -> TCSpec:
    """The TC moved to time step ``step``."""
    lat, lon = _moved(tc.lat_deg, tc.lon_deg, tc.east_ms, tc.north_ms, step * STEP_SECONDS)
    return dataclasses.replace(tc, lat_deg=lat, lon_deg=lon)


def ar_at_step(ar: ARSpec, step: int) -> ARSpec:
    """The AR drifted eastward to time step ``step`` (rotated about the Earth's axis)."""
    _, lon = _moved(ar.lat_deg, ar.lon_deg, ar.speed_ms, 0.0, step * STEP_SECONDS)
    return dataclasses.replace(ar, lon_deg=lon)


def _random_tc(rng) -> TCSpec:
    hemisphere = rng.choice([-1.0, 1.0])
    return TCSpec(
        lat_deg=hemisphere * rng.uniform(10.0, 30.0), lon_deg=rng.uniform(0.0, 360.0),
        pressure_drop_pa=rng.uniform(2500.0, 7500.0), holland_b=rng.uniform(1.3, 1.9),
        rmw_km=rng.uniform(30.0, 100.0), east_ms=rng.uniform(-5.0, 2.0), north_ms=hemisphere * rng.uniform(0.5, 3.0),
        warm_core_k=rng.uniform(4.0, 8.0), tmq_anomaly=rng.uniform(12.0, 20.0),
        prect_anomaly=rng.uniform(3e-6, 8e-6))


def _random_ar(rng, *, across_meridian: bool) -> ARSpec:
    hemisphere = rng.choice([-1.0, 1.0])
    bearing = rng.uniform(30.0, 65.0) if hemisphere > 0 else rng.uniform(115.0, 150.0)
    speed = rng.uniform(4.0, 9.0)
    lat = hemisphere * rng.uniform(38.0, 52.0)
    if across_meridian:  # the middle of the spine crosses 0/360 half-way through the day
        _, drift = _moved(lat, 0.0, speed, 0.0, STEPS_PER_DAY / 2 * STEP_SECONDS)
        lon = (rng.uniform(-2.0, 2.0) - drift) % 360.0
    else:
        lon = rng.uniform(0.0, 360.0)
    return ARSpec(lat_deg=lat, lon_deg=lon, bearing_deg=bearing, length_km=rng.uniform(2500.0, 5000.0),
                  width_km=rng.uniform(400.0, 900.0), ivt_peak=rng.uniform(800.0, 1100.0),
                  wind_anomaly_ms=rng.uniform(12.0, 18.0), speed_ms=speed)


def _crosses_meridian(lon_deg) -> bool:
    return bool(np.any(lon_deg > 350.0) and np.any(lon_deg < 10.0))


def _min_distance_km(lat_a, lon_a, lat_b, lon_b) -> float:
    return float(great_circle_km(np.asarray(lat_a)[:, None], np.asarray(lon_a)[:, None],
                                 np.asarray(lat_b)[None, :], np.asarray(lon_b)[None, :]).min())


def plan_events(config: SynthConfig, date: dt.date, *, max_tries: int = 2000):
    """The TCs and ARs of one day (as at its first step): explicit ones, then random ones kept apart.

    Raises ValueError when the random events cannot be placed apart from each other.
    """
    rng = np.random.default_rng([config.seed, date.toordinal()])
    tcs, ars = list(config.tcs), list(config.ars)
    steps = range(STEPS_PER_DAY)
    ar_spines = [[spine_points(ar_at_step(ar, k)) for k in steps] for ar in ars]
    tc_tracks = [[(t.lat_deg, t.lon_deg) for t in (tc_at_step(tc, k) for k in steps)] for tc in tcs]
    for i in range(config.n_ars):
        for _ in range(max_tries):
            ar = _random_ar(rng, across_meridian=config.ar_across_meridian and i == 0)
            spines = [spine_points(ar_at_step(ar, k)) for k in steps]
            lats = np.concatenate([s[0] for s in spines])
            if not (AR_LAT_BAND_DEG[0] <= np.abs(lats).min() and np.abs(lats).max() <= AR_LAT_BAND_DEG[1]):
                continue
            if config.ar_across_meridian and i == 0 and not all(_crosses_meridian(s[1]) for s in spines):
                continue
            if all(_min_distance_km(*spines[k], *other[k]) >= AR_SEPARATION_KM for other in ar_spines for k in steps):
                ars.append(ar)
                ar_spines.append(spines)
                break
        else:
            raise ValueError(f"cannot place {config.n_ars} ARs {AR_SEPARATION_KM:.0f} km apart")
    for _ in range(config.n_tcs):
        for _ in range(max_tries):
            tc = _random_tc(rng)
            if not 150.0 <= gale_radius_km(tc, tc.lat_deg) <= 600.0:
                continue
            track = [(t.lat_deg, t.lon_deg) for t in (tc_at_step(tc, k) for k in steps)]
            far_from_tcs = all(great_circle_km(*track[k], *other[k]) >= TC_SEPARATION_KM
                               for other in tc_tracks for k in steps)
            far_from_ars = all(_min_distance_km([track[k][0]], [track[k][1]], *spines[k]) >= TC_SEPARATION_KM
                               for spines in ar_spines for k in steps)
            if far_from_tcs and far_from_ars:
                tcs.append(tc)
                tc_tracks.append(track)
                break
        else:
            raise ValueError(f"cannot place {config.n_tcs} TCs {TC_SEPARATION_KM:.0f} km apart from each other "
                             "and from the ARs")
    return tcs, ars


def ar_box(lat_deg, lon_deg, ar: ARSpec) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the grid within two widths of an AR's spine (beyond, its shapes are < 2**-16)."""
    reach_deg = math.degrees(2 * ar.width_km / EARTH_RADIUS_KM)
    lats, lons = spine_points(ar)
    rows = np.nonzero((lat_deg >= lats.min() - reach_deg) & (lat_deg <= lats.max() + reach_deg))[0]
    widest = min(89.0, max(abs(lats.min()), abs(lats.max())) + reach_deg)
    lon_reach = reach_deg / math.cos(math.radians(widest))
    spine_lon = (lons - ar.lon_deg + 180.0) % 360.0 - 180.0  # relative to the middle, continuous across 0/360
    grid_lon = (lon_deg - ar.lon_deg + 180.0) % 360.0 - 180.0
    cols = np.nonzero((grid_lon >= spine_lon.min() - lon_reach) & (grid_lon <= spine_lon.max() + lon_reach))[0]
    return rows, cols


def plant_ar(fields, lat_deg, lon_deg, ar: ARSpec) -> np.ndarray:
    """Add an AR plume to U850, V850, TMQ and PRECT (in place); return its core mask (lat, lon)."""
    rows, cols = ar_box(lat_deg, lon_deg, ar)
    box = np.ix_(rows, cols)
    smooth, shape, east, north = plume_shape(lat_deg[rows], lon_deg[cols], ar)
    u = fields["U850"][box] + ar.wind_anomaly_ms * smooth * east
    v = fields["V850"][box] + ar.wind_anomaly_ms * smooth * north
    fields["U850"][box], fields["V850"][box] = u, v
    speed = np.maximum(np.hypot(u, v), 0.5)
    tmq = fields["TMQ"][box]
    fields["TMQ"][box] = tmq + np.maximum(np.minimum(ar.ivt_peak / speed, AR_TMQ_CAP) - tmq, 0.0) * shape
    fields["PRECT"][box] += 4e-7 * shape
    mask = np.zeros((lat_deg.size, lon_deg.size), dtype=bool)
    mask[box] = shape >= 0.5
    return mask


def plant_tc(fields, lat_deg, lon_deg, tc: TCSpec) -> tuple[np.ndarray, PlantedTC]:
    """Add a TC to PSL, the winds, TMQ, PRECT, T500 and T200 (in place).

    Returns its truth mask (lat, lon) and its truth record (step and id to be filled in).
    """
    radius_km = gale_radius_km(tc, tc.lat_deg)
    r_deg = TC_TAPER_KM[1] / (EARTH_RADIUS_KM * math.pi / 180)
    rows = np.nonzero(np.abs(lat_deg - tc.lat_deg) <= r_deg)[0]
    max_lat = min(89.0, abs(tc.lat_deg) + r_deg)
    lon_reach = min(180.0, r_deg / math.cos(math.radians(max_lat)))
    dlon_all = (lon_deg - tc.lon_deg + 180.0) % 360.0 - 180.0
    cols = np.nonzero(np.abs(dlon_all) <= lon_reach)[0]
    box = np.ix_(rows, cols)
    lat = lat_deg[rows][:, None]
    dlon = dlon_all[cols][None, :]
    r_km = great_circle_km(tc.lat_deg, tc.lon_deg, lat, tc.lon_deg + dlon)
    taper = _taper(r_km)
    wind = holland_gradient_wind(r_km, pressure_drop_pa=tc.pressure_drop_pa, holland_b=tc.holland_b,
                                 rmw_km=tc.rmw_km, lat_deg=tc.lat_deg) * taper
    # local east/north offsets (km) give the tangential and radial directions
    dx = EARTH_RADIUS_KM * np.cos(np.deg2rad(lat)) * np.deg2rad(dlon)
    dy = EARTH_RADIUS_KM * np.deg2rad(lat - tc.lat_deg) * np.ones_like(dlon)
    dist = np.maximum(np.hypot(dx, dy), 1e-6)
    spin = 1.0 if tc.lat_deg >= 0 else -1.0  # counter-clockwise in the north, clockwise in the south
    tan_e, tan_n = -spin * dy / dist, spin * dx / dist
    in_e, in_n = -dx / dist, -dy / dist
    fields["U850"][box] += wind * tan_e
    fields["V850"][box] += wind * tan_n
    alpha = math.radians(INFLOW_ANGLE_DEG)
    surface = SURFACE_WIND_FACTOR * wind
    fields["UBOT"][box] += surface * (math.cos(alpha) * tan_e + math.sin(alpha) * in_e)
    fields["VBOT"][box] += surface * (math.cos(alpha) * tan_n + math.sin(alpha) * in_n)
    fields["PSL"][box] -= holland_pressure_deficit(r_km, pressure_drop_pa=tc.pressure_drop_pa,
                                                   holland_b=tc.holland_b, rmw_km=tc.rmw_km) * taper
    core = 1.0 / (1.0 + (r_km / radius_km) ** 6) * taper
    fields["TMQ"][box] += tc.tmq_anomaly * core
    fields["PRECT"][box] += tc.prect_anomaly * core
    warm = np.exp(-((r_km / max(150.0, 0.6 * radius_km)) ** 2)) * taper
    fields["T200"][box] += tc.warm_core_k * warm
    fields["T500"][box] += 0.6 * tc.warm_core_k * warm
    mask = np.zeros((lat_deg.size, lon_deg.size), dtype=bool)
    mask[box] = r_km <= radius_km
    _, surface_profile = surface_wind_profile(tc, tc.lat_deg)
    record = PlantedTC(step=-1, id=-1, lat_deg=float(tc.lat_deg), lon_deg=float(tc.lon_deg % 360.0), radius_km=radius_km,
                       rmw_km=tc.rmw_km, max_wind_ms=float(surface_profile.max()),
                       pressure_drop_pa=tc.pressure_drop_pa)
    return mask, record


# ----------------------------------------------------------------------------------------- one day
def day_times(date: dt.date) -> list[dt.datetime]:
    """The 8 time stamps (00, 03, ..., 21 h) of ``date``."""
    return [dt.datetime(date.year, date.month, date.day) + dt.timedelta(seconds=k * STEP_SECONDS)
            for k in range(STEPS_PER_DAY)]


def _check_date(date: dt.date) -> None:
    if date.month == 2 and date.day == 29:
        raise ValueError(f"{date}: the noleap calendar of CAM5 has no 29 February")


def synthesize_day(config: SynthConfig, date: dt.date, *, on_step=None):
    """Generate one day (8 time steps) of CAM5-like output and the truth of what was planted.

    Parameters
    ----------
    config : SynthConfig
    date : datetime.date
        Not 29 February (CAM5's calendar is ``noleap``).
    on_step : callable, optional
        Called with no argument after each time step (progress bars).

    Returns
    -------
    dataset : xarray.Dataset
        The 16 channels (time, lat, lon) float32, plus ``Q, U, V`` (time, plev, lat, lon) with ``with_plev``.
    truth : Truth
    """
    import cftime
    import xarray as xr

    _check_date(date)
    lat, lon = cam5_grid(config.n_lat, config.n_lon)
    waves = _background_waves(config.seed)
    tcs, ars = plan_events(config, date)
    times = day_times(date)
    shape = (STEPS_PER_DAY, config.n_lat, config.n_lon)
    channels = {name: np.empty(shape, np.float32) for name in CHANNELS}
    levels = {name: np.empty((STEPS_PER_DAY, len(PLEV_PA)) + shape[1:], np.float32) for name in ("Q", "U", "V")} \
        if config.with_plev else {}
    tc_mask = np.zeros(shape, bool)
    ar_mask = np.zeros(shape, bool)
    planted_tcs, planted_ars = [], []
    epoch = dt.datetime(2000, 1, 1)
    for step, time in enumerate(times):
        seconds = (time - epoch).total_seconds()
        fields = background_fields(lat, lon, seconds, waves)
        for ident, ar in enumerate(ars):
            moved = ar_at_step(ar, step)
            ar_mask[step] |= plant_ar(fields, lat, lon, moved)
            planted_ars.append(PlantedAR(step, ident, *(float(getattr(moved, c)) for c in _AR_COLUMNS[2:])))
        fields["UBOT"] = 0.75 * fields["U850"]
        fields["VBOT"] = 0.75 * fields["V850"]
        for ident, tc in enumerate(tcs):
            mask, record = plant_tc(fields, lat, lon, tc_at_step(tc, step))
            tc_mask[step] |= mask
            planted_tcs.append(dataclasses.replace(record, step=step, id=ident))
        fields["PRECT"] = np.maximum(fields["PRECT"], 0.0)
        derived_fields(fields)
        for name in CHANNELS:
            channels[name][step] = fields[name]
        for name, values in (pressure_level_fields(fields).items() if config.with_plev else ()):
            levels[name][step] = values
        if on_step is not None:
            on_step()

    cf_times = [cftime.DatetimeNoLeap(t.year, t.month, t.day, t.hour) for t in times]
    coords = {
        "time": ("time", cf_times, {"long_name": "time"}),
        "lat": ("lat", lat, {"units": "degrees_north", "long_name": "latitude", "standard_name": "latitude"}),
        "lon": ("lon", lon, {"units": "degrees_east", "long_name": "longitude", "standard_name": "longitude"}),
    }
    data_vars = {name: (("time", "lat", "lon"), channels[name],
                        {"units": CHANNEL_UNITS[name], "long_name": LONG_NAMES[name]}) for name in CHANNELS}
    data_vars["date"] = ("time", np.array([int(t.strftime("%Y%m%d")) for t in times], np.int32),
                         {"long_name": "current date (YYYYMMDD)"})
    data_vars["datesec"] = ("time", np.array([t.hour * 3600 for t in times], np.int32),
                            {"long_name": "current seconds of current date"})
    if config.with_plev:
        coords["plev"] = ("plev", np.array(PLEV_PA), {"units": "Pa", "long_name": "pressure",
                                                       "standard_name": "air_pressure", "positive": "down"})
        for name, units, long_name in (("Q", "kg kg-1", "Specific humidity"), ("U", "m s-1", "Zonal wind"),
                                       ("V", "m s-1", "Meridional wind")):
            data_vars[name] = (("time", "plev", "lat", "lon"), levels[name], {"units": units, "long_name": long_name})
    dataset = xr.Dataset(data_vars, coords=coords, attrs={
        "Conventions": "CF-1.6",
        "title": "CAM5-like synthetic model output with planted tropical cyclones and atmospheric rivers",
        "source": "climseg synth",
        "case": config.case,
        "seed": config.seed,
        "note": "aquaplanet background; truth of the planted events is in the .truth.h5 file beside this one",
    })
    dataset["time"].encoding.update(units=TIME_UNITS, calendar=CALENDAR, dtype="float64")  # for any writer
    truth = Truth(times=times, lat_deg=lat, lon_deg=lon, tcs=planted_tcs, ars=planted_ars,
                  tc_mask=tc_mask, ar_mask=ar_mask)
    return dataset, truth


def file_stem(case: str, date: dt.date) -> str:
    """``<case>.cam.h2.YYYY-MM-DD-00000`` (CAM5 h2 history file name without extension)."""
    return f"{case}.cam.h2.{date:%Y-%m-%d}-00000"


def write_day(config: SynthConfig, date: dt.date, out_dir, *, on_step=None) -> tuple[Path, Path]:
    """Generate one day and write ``<case>.cam.h2.YYYY-MM-DD-00000.nc`` and ``.truth.h5`` into ``out_dir``.

    Both files are written to temporary names and renamed when complete.
    """
    dataset, truth = synthesize_day(config, date, on_step=on_step)
    out_dir = Path(out_dir)
    nc_path = out_dir / f"{file_stem(config.case, date)}.nc"
    truth_path = out_dir / f"{file_stem(config.case, date)}.truth.h5"
    encoding = {name: {"dtype": "float32", "_FillValue": FILL_VALUE} for name in dataset.data_vars
                if dataset[name].dtype == np.float32}
    encoding.update({name: {"_FillValue": None} for name in ("lat", "lon", "plev") if name in dataset.coords})
    encoding["time"] = {"_FillValue": None, "units": TIME_UNITS, "calendar": CALENDAR, "dtype": "float64"}
    with atomic_output(nc_path) as tmp:
        dataset.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", encoding=encoding)
    with atomic_output(truth_path) as tmp:
        write_truth(tmp, truth, source=nc_path.name, config=config)
    return nc_path, truth_path


# ----------------------------------------------------------------------------------------- truth file
_TC_COLUMNS = ("step", "id", "lat_deg", "lon_deg", "radius_km", "rmw_km", "max_wind_ms", "pressure_drop_pa")
_AR_COLUMNS = ("step", "id", "lat_deg", "lon_deg", "bearing_deg", "length_km", "width_km", "ivt_peak")


def write_truth(path, truth: Truth, *, source: str = "", config: SynthConfig | None = None) -> None:
    """Write ``truth`` to an HDF5 file (``tc/<column>``, ``ar/<column>``, ``tc_mask``, ``ar_mask``, ...)."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["source"] = source
        f.attrs["definitions"] = ("tc_mask: within radius_km (gale radius: the vortex's own surface wind "
                                  "< 17.5 m s-1 beyond it) of a TC centre; ar_mask: plume shape >= 1/2 "
                                  "(see climseg.synth)")
        if config is not None:
            f.attrs["config"] = json.dumps(dataclasses.asdict(config), default=str)
        f["time"] = np.array([t.isoformat() for t in truth.times], dtype=h5py.string_dtype())
        f["lat"] = truth.lat_deg
        f["lat"].attrs["units"] = "degrees_north"
        f["lon"] = truth.lon_deg
        f["lon"].attrs["units"] = "degrees_east"
        for name in ("tc_mask", "ar_mask"):
            f.create_dataset(name, data=getattr(truth, name).astype(np.uint8), compression="gzip",
                             compression_opts=1, chunks=(1,) + truth.tc_mask.shape[1:])
        for group, records, columns in (("tc", truth.tcs, _TC_COLUMNS), ("ar", truth.ars, _AR_COLUMNS)):
            g = f.create_group(group)
            for column in columns:
                dtype = np.int32 if column in ("step", "id") else np.float64
                g[column] = np.array([getattr(r, column) for r in records], dtype=dtype)


def read_truth(path) -> Truth:
    """Read a ``.truth.h5`` file written by :func:`write_day`.

    Raises ValueError naming the file when it is not one.
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            times = [dt.datetime.fromisoformat(t.decode() if isinstance(t, bytes) else t) for t in f["time"][()]]
            tcs = [PlantedTC(*(int(v) if c in ("step", "id") else float(v) for c, v in zip(_TC_COLUMNS, row)))
                   for row in zip(*(f["tc"][c][()] for c in _TC_COLUMNS))]
            ars = [PlantedAR(*(int(v) if c in ("step", "id") else float(v) for c, v in zip(_AR_COLUMNS, row)))
                   for row in zip(*(f["ar"][c][()] for c in _AR_COLUMNS))]
            return Truth(times=times, lat_deg=f["lat"][()], lon_deg=f["lon"][()], tcs=tcs, ars=ars,
                         tc_mask=f["tc_mask"][()].astype(bool), ar_mask=f["ar_mask"][()].astype(bool))
    except KeyError as error:
        raise ValueError(f"{path}: not a climseg truth file (missing {error.args[0]})") from None
    except OSError as error:
        raise OSError(f"{path}: cannot read truth file ({error})") from None


# ----------------------------------------------------------------------------------------- command line
def synth_parser(parser) -> None:
    """Arguments of ``climseg synth``."""
    parser.description = (
        "Generate CAM5-like model output: one netCDF file per day (<case>.cam.h2.YYYY-MM-DD-00000.nc, 8 time "
        "steps of 3 h, the 16 channels with CAM5 names and units) with planted tropical cyclones and "
        "atmospheric rivers, and the truth of what was planted beside it (<same>.truth.h5). "
        "Deterministic for a seed.")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--days", type=int, default=1, help="number of consecutive days (29 February skipped)")
    parser.add_argument("--start-date", default="2000-01-01", help="first day, YYYY-MM-DD")
    parser.add_argument("--lat", type=int, default=768, help="number of latitudes (-90..90)")
    parser.add_argument("--lon", type=int, default=1152, help="number of longitudes (0..360)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--plev", action="store_true", help="also write Q, U, V on pressure levels (true IVT)")
    parser.add_argument("--case", default="synth", help="case name, the start of the file names")
    parser.add_argument("--tcs", type=int, default=4, help="random tropical cyclones per day")
    parser.add_argument("--ars", type=int, default=4, help="random atmospheric rivers per day")


def model_days(start: dt.date, count: int) -> list[dt.date]:
    """``count`` consecutive days of the noleap calendar from ``start``."""
    days, day = [], start
    while len(days) < count:
        if not (day.month == 2 and day.day == 29):
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def synth_command(args) -> int:
    """Run ``climseg synth``."""
    from tqdm import tqdm

    from climseg.cli import CommandError

    try:
        start = dt.date.fromisoformat(args.start_date)
    except ValueError:
        raise CommandError(f"--start-date {args.start_date!r}: not a date of the form YYYY-MM-DD") from None
    if args.days < 1:
        raise CommandError(f"--days {args.days}: must be at least 1")
    try:
        _check_date(start)
        config = SynthConfig(n_lat=args.lat, n_lon=args.lon, seed=args.seed, n_tcs=args.tcs, n_ars=args.ars,
                             with_plev=args.plev, case=args.case, start_date=start)
    except ValueError as error:
        raise CommandError(str(error)) from None
    try:  # before minutes of generating
        Path(args.out).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"{args.out}: cannot create the output directory ({error.strerror or error})") from None
    days = model_days(start, args.days)
    written = []
    with tqdm(total=len(days) * STEPS_PER_DAY, unit="step", desc="synth") as bar:
        for day in days:
            try:
                written.append(write_day(config, day, args.out, on_step=lambda: bar.update(1)))
            except (OSError, ValueError) as error:  # events that cannot be placed apart, a full disk
                raise CommandError(f"{day}: {error}") from None
    for nc_path, truth_path in written:
        print(f"wrote {nc_path} and {truth_path.name}")
    print(f"{len(written)} day(s) of {config.n_lat} x {config.n_lon} data in {args.out}")
    return 0
