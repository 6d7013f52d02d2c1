"""The aquaplanet background: zonal-mean climate plus smooth drifting waves, and the fields derived from it."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from climseg.synth.config import EARTH_RADIUS_KM, GRAVITY, PLEV_PA, Q_PROFILE_EXPONENT, R_DRY

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
