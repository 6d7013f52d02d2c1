"""The Holland (1980) tropical-cyclone vortex: gradient wind, pressure deficit, gale radius."""

from __future__ import annotations

import math

import numpy as np

from climseg.synth.config import GALE_WIND_MS, OMEGA, RHO_AIR, SURFACE_WIND_FACTOR, TC_TAPER_KM, TCSpec

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
