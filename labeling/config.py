"""Labelling parameters: plain frozen dataclasses, every threshold and window in physical units.

A configuration file (``climseg label --config LABEL.yaml``) holds any subset of::

    ivt: {source: auto}
    ar:  {percentile: 95.0, min_length_km: 2000.0, ...}
    tc:  {vorticity_threshold_per_s: 1.6e-4, ...}
    tc_exclusion_radius_factor: 1.5

Missing keys keep their defaults; an unknown key or a bad value is a ValueError naming it. The full
configuration (``LabelConfig.to_dict()``) is stored as provenance in every sample file.
"""

import dataclasses
import math
from pathlib import Path


def _check(cls_name, name, value, *, low=None, high=None, low_open=False, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{cls_name}.{name}: expected a finite number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        relation = ">" if low_open else ">="
        raise ValueError(f"{cls_name}.{name}: must be {relation} {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{cls_name}.{name}: must be <= {high}, got {value!r}")


def _check_choice(cls_name, name, value, choices):
    if value not in choices:
        raise ValueError(f"{cls_name}.{name}: must be one of {', '.join(choices)}, got {value!r}")


class _Section:
    """Shared to_dict/from_dict of the config dataclasses."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise ValueError(f"{cls.__name__}: expected a mapping of options, got {d!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        for key in d:
            if key not in known:
                raise ValueError(f"{cls.__name__}: unknown key {key!r} (known: {', '.join(sorted(known))})")
        # YAML reads 1e-4 without a dot as a string; accept numeric strings for numeric fields.
        values = {}
        for f in dataclasses.fields(cls):
            if f.name in d:
                value = d[f.name]
                if isinstance(value, str) and isinstance(f.default, (int, float)) and not isinstance(f.default, bool):
                    try:
                        value = float(value)
                    except ValueError:
                        raise ValueError(f"{cls.__name__}.{f.name}: expected a number, got {value!r}") from None
                values[f.name] = value
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class IVTConfig(_Section):
    """How integrated vapour transport is computed.

    ``source``: ``"levels"`` integrates Q, U, V over pressure levels (fails without them),
    ``"proxy"`` uses TMQ * (U850, V850) (see :func:`labeling.ivt.ivt_proxy`), ``"auto"`` uses the
    levels when the input has them and the proxy otherwise.
    """

    source: str = "auto"

    def __post_init__(self):
        _check_choice("IVTConfig", "source", self.source, ("auto", "levels", "proxy"))


@dataclasses.dataclass(frozen=True)
class ARConfig(_Section):
    """Atmospheric-river detection (see :func:`labeling.ar.atmospheric_river_mask`)."""

    percentile: float = 95.0
    """IVT percentile (over the grid cells of the time step, after tropical damping) marking candidates."""
    min_ivt_kg_m_s: float = 250.0
    """Floor on the threshold (kg m-1 s-1): the threshold is max(percentile value, floor); 0 disables.
    250 is the usual physical AR threshold (Rutz et al. 2014). Where the 95th percentile falls below it
    (moist subtropics, weak plumes) the percentile alone marks broad regions of ordinary transport."""
    tropical_damping_sigma_deg: float = 15.0
    """IVT is multiplied by 1 - exp(-lat^2 / (2 sigma^2)) before thresholding; 0 disables."""
    core_fraction: float = 0.0
    """Keep the core of each candidate region: cells whose IVT excess over the threshold is at least this
    fraction of the region's peak excess (0.5: the half-maximum core, as plume widths are measured); 0 keeps
    the whole region. The geometric filters apply to the cores."""
    min_length_km: float = 2000.0
    """Minimum great-circle length (the largest distance between two cells of the region)."""
    min_length_width_ratio: float = 2.0
    """Minimum length / width, with width = area / length."""
    min_area_km2: float = 1.0e5
    min_abs_centroid_lat_deg: float = 15.0
    """Latitude band of the area-weighted centroid (degrees from the equator, both hemispheres)."""
    max_abs_centroid_lat_deg: float = 80.0

    def __post_init__(self):
        n = "ARConfig"
        _check(n, "percentile", self.percentile, low=0.0, high=100.0, low_open=True)
        _check(n, "min_ivt_kg_m_s", self.min_ivt_kg_m_s, low=0.0)
        _check(n, "tropical_damping_sigma_deg", self.tropical_damping_sigma_deg, low=0.0)
        _check(n, "core_fraction", self.core_fraction, low=0.0, high=1.0)
        _check(n, "min_length_km", self.min_length_km, low=0.0)
        _check(n, "min_length_width_ratio", self.min_length_width_ratio, low=0.0)
        _check(n, "min_area_km2", self.min_area_km2, low=0.0)
        _check(n, "min_abs_centroid_lat_deg", self.min_abs_centroid_lat_deg, low=0.0, high=90.0)
        _check(n, "max_abs_centroid_lat_deg", self.max_abs_centroid_lat_deg, low=0.0, high=90.0)
        if self.max_abs_centroid_lat_deg < self.min_abs_centroid_lat_deg:
            raise ValueError(f"{n}: max_abs_centroid_lat_deg ({self.max_abs_centroid_lat_deg}) is below "
                             f"min_abs_centroid_lat_deg ({self.min_abs_centroid_lat_deg})")


@dataclasses.dataclass(frozen=True)
class TCConfig(_Section):
    """Tropical-cyclone detection and masking (TECA / GFDL criteria; see :mod:`labeling.tc`).

    Windows are great-circle distances in km (1 degree = 111.2 km), never grid points.
    """

    vorticity_threshold_per_s: float = 1.6e-4
    """850 hPa relative vorticity (sign flipped in the south) a candidate must exceed (s-1)."""
    vorticity_scale_km: float = 100.0
    """Vorticity is computed by centred differences over exactly +-this distance (winds interpolated between
    cells), so that it means the same on a 0.25 and a 0.5 degree grid (about 2 V(r) / r at r = scale); on a
    grid whose rows are wider the difference spans one row; 0 uses adjacent cells."""
    vorticity_scale_exponent: float = 1.5
    """On grids whose rows are wider than ``vorticity_scale_km`` (1 degree = 111 km and coarser) the threshold
    is multiplied by (scale / row spacing) ** exponent (see labeling.tc.vorticity_threshold_on_grid); 0
    disables. Where the grid resolves the scale the configured threshold applies unchanged. The threshold
    applied is recorded in every sample (``thresholds``)."""
    psl_search_km: float = 222.4
    """The PSL minimum (the storm centre) is searched within this distance of the vorticity maximum (2 deg)."""
    psl_rise_pa: float = 400.0
    """PSL must rise by this much from the centre ..."""
    psl_rise_within_km: float = 556.0
    """... within this distance in every direction (5 deg): a closed low."""
    warm_core_search_km: float = 222.4
    """The (T200 + T500) / 2 maximum is searched within this distance of the centre (2 deg) ..."""
    warm_core_drop_k: float = 0.8
    """... and must drop by this much (K, 0 disables) ..."""
    warm_core_drop_within_km: float = 556.0
    """... within this distance in every direction (5 deg)."""
    thickness_drop_m: float = 30.0
    """Z200 - Z1000 maximum near the centre must drop by this much (m, 0 disables) ... The GFDL value is
    50 m; on a meridional thickness gradient of ~20 m per degree (30 deg N) weak storms with a 3 K warm
    core fail it along the equatorward bearing, while the warm-core temperature test already holds, so
    we use 30 m."""
    thickness_drop_within_km: float = 444.8
    """... within this distance in every direction (4 deg)."""
    min_surface_wind_m_s: float = 17.0
    """Maximum |UBOT, VBOT| within ``wind_search_km`` of the centre must reach this."""
    wind_search_km: float = 300.0
    max_abs_lat_deg: float = 60.0
    """Centres poleward of this are not TCs."""
    min_separation_km: float = 400.0
    """Of two centres closer than this, only the deeper (lower PSL) one is kept."""
    gale_wind_m_s: float = 17.5
    """Radius: where the azimuthal-mean surface wind falls below this (34 kt, the R34 of forecasters)."""
    max_radius_km: float = 1500.0
    """Radial wind profiles are followed out to this distance."""
    mask_method: str = "gale"
    """``"gale"``: the connected area of gale-force surface wind around the centre (eye filled);
    ``"radius"``: the disc of the gale radius; ``"percentile"``: the authors' recipe (TMQ, wind and
    precipitation at a percentile in a box). See :func:`labeling.tc.tropical_cyclone_mask`."""
    mask_margin_km: float = 300.0
    """The mask of a storm stays within radius + margin of its centre."""
    mask_percentile: float = 93.0
    """Percentile of the ``"percentile"`` method (within a box of radius + ``percentile_box_margin_km``)."""
    percentile_box_margin_km: float = 734.0
    """The authors' box: radius + 6.6 deg."""

    def __post_init__(self):
        n = "TCConfig"
        for name in ("vorticity_threshold_per_s", "vorticity_scale_km", "vorticity_scale_exponent", "psl_rise_pa", "warm_core_drop_k",
                     "thickness_drop_m", "min_surface_wind_m_s", "min_separation_km", "gale_wind_m_s",
                     "mask_margin_km", "percentile_box_margin_km"):
            _check(n, name, getattr(self, name), low=0.0)
        for name in ("psl_search_km", "psl_rise_within_km", "warm_core_search_km", "warm_core_drop_within_km",
                     "thickness_drop_within_km", "wind_search_km", "max_radius_km"):
            _check(n, name, getattr(self, name), low=0.0, low_open=True)
        _check(n, "max_abs_lat_deg", self.max_abs_lat_deg, low=0.0, high=90.0)
        _check(n, "mask_percentile", self.mask_percentile, low=0.0, high=100.0)
        _check_choice(n, "mask_method", self.mask_method, ("gale", "radius", "percentile"))


@dataclasses.dataclass(frozen=True)
class LabelConfig:
    """All labelling parameters."""

    ivt: IVTConfig = dataclasses.field(default_factory=IVTConfig)
    ar: ARConfig = dataclasses.field(default_factory=ARConfig)
    tc: TCConfig = dataclasses.field(default_factory=TCConfig)
    tc_exclusion_radius_factor: float = 1.5
    """Cells within this many TC radii of a detected centre (and the TC mask) cannot be AR."""

    def __post_init__(self):
        _check("LabelConfig", "tc_exclusion_radius_factor", self.tc_exclusion_radius_factor, low=0.0)
        for name, cls in (("ivt", IVTConfig), ("ar", ARConfig), ("tc", TCConfig)):
            if not isinstance(getattr(self, name), cls):
                raise ValueError(f"LabelConfig.{name}: expected {cls.__name__}, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        """Nested plain dict (YAML/JSON-serialisable) that :meth:`from_dict` reads back."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d) -> "LabelConfig":
        """Build from a (possibly partial) nested dict; unknown keys and bad values raise ValueError."""
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise ValueError(f"LabelConfig: expected a mapping of options, got {d!r}")
        known = {"ivt", "ar", "tc", "tc_exclusion_radius_factor"}
        for key in d:
            if key not in known:
                raise ValueError(f"LabelConfig: unknown key {key!r} (known: {', '.join(sorted(known))})")
        kwargs = {"ivt": IVTConfig.from_dict(d.get("ivt")), "ar": ARConfig.from_dict(d.get("ar")),
                  "tc": TCConfig.from_dict(d.get("tc"))}
        if "tc_exclusion_radius_factor" in d:
            kwargs["tc_exclusion_radius_factor"] = d["tc_exclusion_radius_factor"]
        return cls(**kwargs)

    @classmethod
    def from_yaml(cls, path) -> "LabelConfig":
        """Read a YAML file; errors (unreadable file, bad YAML, unknown key, bad value) name the file."""
        import yaml

        path = Path(path)
        try:
            text = path.read_text()
        except OSError as error:
            raise OSError(f"{path}: cannot read label config: {error.strerror or error}") from error
        try:
            d = yaml.safe_load(text)
            return cls.from_dict(d)
        except yaml.YAMLError as error:
            raise ValueError(f"{path}: not valid YAML: {str(error).splitlines()[0]}") from error
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error
