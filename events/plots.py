"""Figures of the report: AR frequency and TC track maps over coastlines, yearly counts, heuristic-vs-network panels.

Every function draws with matplotlib's Agg backend (no display needed) into a PNG written atomically, and
takes plain arrays in physical units on a lat/lon grid (latitude ascending, longitude ascending, any range):

- coastlines are the 0.5 contour of a land fraction or land-sea mask on the same grid (the climatology's
  land mask, or a model's LANDFRAC), so no map data set is needed;
- tracks are pandas DataFrames in the TempestExtremes csv layout of ``climseg track`` (``track_id``,
  ``lat``, ``lon``, optional ``wind`` in m s-1); a track crossing 0/360 is drawn without a line across the map.

Examples
--------
>>> frequency_map(freq, lat, lon, "ar_frequency.png", land=land, label="AR frequency (fraction of time)")  # doctest: +SKIP
>>> track_map({"heuristic": a, "network": b}, lat, lon, "tracks.png", land=land)                         # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from climseg.atomic import atomic_output

DPI = 100
PANEL_INCHES = (6.4, 3.6)
"""Size of one map panel (width, height), inches."""
CATEGORY_COLOURS = ("#5ebaff", "#00faf4", "#ffffcc", "#ffe775", "#ffc140", "#ff8f20", "#ff6060")


def _figure(panels: int, *, rows: int = 1, extra_height: float = 0.0):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    columns = -(-panels // rows)
    fig = Figure(figsize=(PANEL_INCHES[0] * columns, PANEL_INCHES[1] * rows + extra_height), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()[:panels]
    return fig, axes


def _save(fig, out_png) -> Path:
    out_png = Path(out_png)
    with atomic_output(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return out_png


def _check_field(name, values, lat, lon):
    values = np.asarray(values)
    if values.shape != (len(lat), len(lon)):
        raise ValueError(f"{name}: shape {values.shape} does not match the grid (lat, lon) ({len(lat)}, {len(lon)})")
    return values


def draw_coastlines(ax, lat_deg, lon_deg, land, *, colour="0.25", linewidth=0.8):
    """Coastlines: the 0.5 contour of ``land`` (lat, lon), fraction or 0/1, drawn on ``ax``; nothing when None."""
    if land is None:
        return
    land = _check_field("land mask", np.asarray(land, np.float64), lat_deg, lon_deg)
    if not ((land > 0.5).any() and (land < 0.5).any()):
        return  # all sea or all land: no coast on this grid
    ax.contour(lon_deg, lat_deg, land, levels=[0.5], colors=colour, linewidths=linewidth)


def _map_axes(ax, lat_deg, lon_deg, *, title=""):
    half = 0.5 * abs(float(lon_deg[1] - lon_deg[0])) if len(lon_deg) > 1 else 0.0  # cell edges, not centres
    ax.set_xlim(float(np.min(lon_deg)) - half, float(np.max(lon_deg)) + half)
    ax.set_ylim(max(-90.0, float(np.min(lat_deg))), min(90.0, float(np.max(lat_deg))))
    ax.set_aspect("equal")
    ax.set_xlabel("longitude (degrees east)")
    ax.set_ylabel("latitude (degrees north)")
    if title:
        ax.set_title(title)


def map_panels(fields: dict, lat_deg, lon_deg, out_png, *, land=None, label: str, title: str = "",
               cmap: str = "viridis", difference: bool = False, vmax: float | None = None) -> Path:
    """Maps of the same quantity side by side (e.g. heuristic, network), on a shared colour scale.

    Parameters
    ----------
    fields : dict of panel title -> ndarray (lat, lon)
        In the order to draw; NaN is left blank.
    lat_deg, lon_deg : ndarray (lat,), (lon,), degrees
    out_png : path of the PNG
    land : ndarray (lat, lon) or None, land fraction for the coastlines
    label : str, colour bar label with units, e.g. "AR frequency (fraction of time steps)"
    title : str, figure title
    difference : bool
        With two fields, add a third panel: second minus first (diverging colours, symmetric scale).
    vmax : float, optional, top of the shared scale (default: the largest finite value)
    """
    if not fields:
        raise ValueError(f"{out_png}: no fields to draw")
    arrays = {name: _check_field(name, np.asarray(values, np.float64), lat_deg, lon_deg)
              for name, values in fields.items()}
    if difference and len(arrays) != 2:
        raise ValueError(f"{out_png}: a difference panel needs exactly 2 fields, got {len(arrays)}")
    finite = [a[np.isfinite(a)] for a in arrays.values()]
    top = vmax if vmax is not None else max((float(f.max()) for f in finite if f.size), default=1.0)
    top = top if top > 0 else 1.0
    fig, axes = _figure(len(arrays) + int(difference), extra_height=0.4)
    for ax, (name, values) in zip(axes, arrays.items()):
        mesh = ax.pcolormesh(lon_deg, lat_deg, values, cmap=cmap, vmin=0.0, vmax=top, shading="nearest",
                             rasterized=True)
        draw_coastlines(ax, lat_deg, lon_deg, land)
        _map_axes(ax, lat_deg, lon_deg, title=name)
    fig.colorbar(mesh, ax=list(axes[: len(arrays)]), label=label, location="bottom", shrink=0.6)
    if difference:
        (first, a), (second, b) = arrays.items()
        delta = b - a
        span = float(np.nanmax(np.abs(delta))) if np.isfinite(delta).any() else 0.0
        span = span if span > 0 else 1.0
        ax = axes[-1]
        mesh = ax.pcolormesh(lon_deg, lat_deg, delta, cmap="RdBu_r", vmin=-span, vmax=span, shading="nearest",
                             rasterized=True)
        draw_coastlines(ax, lat_deg, lon_deg, land)
        _map_axes(ax, lat_deg, lon_deg, title=f"{second} - {first}")
        fig.colorbar(mesh, ax=ax, label="difference", location="bottom", shrink=0.8)
    if title:
        fig.suptitle(title)
    return _save(fig, out_png)


def frequency_map(frequency, lat_deg, lon_deg, out_png, *, land=None,
                  label: str = "AR frequency (fraction of time steps)", title: str = "") -> Path:
    """One map of a per-cell frequency (0..1), e.g. the AR frequency of a climatology."""
    return map_panels({title or "frequency": frequency}, lat_deg, lon_deg, out_png, land=land, label=label,
                      cmap="YlGnBu", vmax=None)


def category_colours(wind_m_s) -> list:
    """Colour of each point's Saffir-Simpson category (:func:`events.tracks.saffir_simpson`); grey without wind."""
    from events.tracks import CATEGORIES, saffir_simpson

    names = [saffir_simpson(w) for w in np.asarray(wind_m_s, np.float64)]
    return [CATEGORY_COLOURS[CATEGORIES.index(n)] if n else "0.6" for n in names]


def track_segments(lat_deg, lon_deg, *, lon_min: float = 0.0):
    """Pieces of one track to draw as lines, split where it crosses the map's edge in longitude.

    Parameters
    ----------
    lat_deg, lon_deg : ndarray (points,), degrees; longitude in any range
    lon_min : float, western edge of the map (0 for a 0..360 map, -180 for -180..180)

    Returns
    -------
    list of (lon, lat) arrays, longitudes in [lon_min, lon_min + 360)
    """
    lat = np.asarray(lat_deg, np.float64)
    lon = np.mod(np.asarray(lon_deg, np.float64) - lon_min, 360.0) + lon_min
    if lat.size == 0:
        return []
    breaks = np.nonzero(np.abs(np.diff(lon)) > 180.0)[0] + 1
    return [(x, y) for x, y in zip(np.split(lon, breaks), np.split(lat, breaks))]


def track_map(tracks: dict, lat_deg, lon_deg, out_png, *, land=None, title: str = "") -> Path:
    """TC tracks over coastlines, one panel per track set, coloured by Saffir-Simpson category of the point.

    Parameters
    ----------
    tracks : dict of panel title -> pandas.DataFrame
        Track points (``track_id``, ``lat``, ``lon``; ``wind`` m s-1 if present, else one colour).
    lat_deg, lon_deg : ndarray, the grid (sets the extent and the coastlines)
    out_png : path of the PNG
    land : ndarray (lat, lon) or None, land fraction
    title : str
    """
    from matplotlib.lines import Line2D

    from events.tracks import CATEGORIES

    if not tracks:
        raise ValueError(f"{out_png}: no track sets to draw")
    lon_min = -180.0 if float(np.min(lon_deg)) < 0 else 0.0
    fig, axes = _figure(len(tracks), extra_height=0.5)
    for ax, (name, frame) in zip(axes, tracks.items()):
        draw_coastlines(ax, lat_deg, lon_deg, land)
        count = 0
        for _, points in frame.groupby("track_id", sort=False):
            count += 1
            for x, y in track_segments(points["lat"].to_numpy(), points["lon"].to_numpy(), lon_min=lon_min):
                ax.plot(x, y, color="0.3", linewidth=0.9)
            colours = category_colours(points["wind"] if "wind" in points.columns else np.full(len(points), np.nan))
            x = np.mod(points["lon"].to_numpy(float) - lon_min, 360.0) + lon_min
            ax.scatter(x, points["lat"].to_numpy(float), c=colours, s=9, edgecolors="0.2", linewidths=0.3,
                       zorder=3)
            ax.plot(x[0], points["lat"].iloc[0], marker="o", mfc="none", mec="black", ms=6, zorder=4)
        _map_axes(ax, lat_deg, lon_deg, title=f"{name}: {count} tracks")
    handles = [Line2D([], [], marker="o", ls="none", mfc=c, mec="0.2", label=n)
               for n, c in zip(CATEGORIES, CATEGORY_COLOURS)]
    handles.append(Line2D([], [], marker="o", ls="none", mfc="none", mec="black", label="genesis"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), title="Saffir-Simpson category "
               "of the point (maximum surface wind)")
    if title:
        fig.suptitle(title)
    return _save(fig, out_png)


def yearly_counts(series: dict, out_png, *, ylabel: str, title: str = "") -> Path:
    """Counts per year as lines with markers, one line per series (e.g. heuristic and network).

    Parameters
    ----------
    series : dict of label -> dict {year: count}
    out_png : path of the PNG
    ylabel : str, what is counted with its unit, e.g. "TC tracks per year"
    """
    if not series:
        raise ValueError(f"{out_png}: no series to draw")
    fig, (ax,) = _figure(1)
    years = sorted({int(y) for counts in series.values() for y in counts})
    for index, ((label, counts), marker) in enumerate(zip(series.items(), "oossDD^^")):
        hollow = index % 2 == 0  # pairs (heuristic, network) of equal counts stay visible: a big ring, a dot inside
        ax.plot(years, [counts.get(y, counts.get(str(y), 0)) for y in years], marker=marker, label=label,
                markersize=11 if hollow else 5, fillstyle="none" if hollow else "full",
                linestyle="-" if hollow else "--")
    ax.set_xlabel("year")
    ax.set_ylabel(ylabel)
    ax.set_xticks(years)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return _save(fig, out_png)


# -- command line ------------------------------------------------------------------------------------

SOURCES = ("heuristic", "network")
FIGURE_NAMES = ("ar_frequency.png", "tc_track_density.png", "tc_tracks.png", "yearly_counts.png")
YEARLY_QUANTITIES = ("tc_tracks", "ar_objects", "ace")


def read_climatology(directory):
    """What the figures need from a ``climseg climatology --out DIR`` (or ``--merge``) directory.

    Returns
    -------
    dict with ``lat``, ``lon`` (degrees), ``ar_frequency`` (lat, lon) fraction of time steps, ``land`` (lat, lon)
    0/1, ``box_lat``, ``box_lon``, ``tc_track_density`` (box_lat, box_lon) tracks, ``tracks`` (DataFrame of track
    points), ``yearly`` (DataFrame of ``climatology_yearly.csv``).
    """
    import pandas as pd
    import xarray as xr

    from events.compare import read_track_points

    directory = Path(directory)
    path = directory / "climatology.nc"
    try:
        with xr.open_dataset(path) as ds:
            out = {name: ds[name].values for name in ("lat", "lon", "ar_frequency", "land", "box_lat", "box_lon",
                                                      "tc_track_density")}
        out["yearly"] = pd.read_csv(directory / "climatology_yearly.csv")
    except (OSError, KeyError, ValueError) as error:
        raise OSError(f"{directory}: not a climatology directory ({str(error).splitlines()[0]})") from None
    out["tracks"] = read_track_points(directory / "tracks.csv")
    return out


def side_by_side_table(yearly: dict):
    """Yearly tables of several mask sets in one long table: ``year, quantity, <set 1>, <set 2>, ...``."""
    import pandas as pd

    long = []
    for name, table in yearly.items():
        melted = table.melt(id_vars="year", var_name="quantity", value_name=name)
        long.append(melted.set_index(["year", "quantity"]))
    return pd.concat(long, axis=1).reset_index()


def figures(climatologies: dict, out_dir) -> list[Path]:
    """The report's figures and side-by-side table of climatologies (dict name -> :func:`read_climatology`).

    Writes ``ar_frequency.png`` and ``tc_track_density.png`` (maps side by side with the difference of the
    last two), ``tc_tracks.png``, ``yearly_counts.png`` and ``climatology_side_by_side.csv`` into ``out_dir``.
    """
    from climseg.atomic import atomic_output

    out_dir = Path(out_dir)
    first = next(iter(climatologies.values()))
    for name, clim in climatologies.items():
        if clim["ar_frequency"].shape != first["ar_frequency"].shape:
            raise ValueError(f"{name}: climatology grid {clim['ar_frequency'].shape} differs from "
                             f"{first['ar_frequency'].shape}")
    lat, lon, land = first["lat"], first["lon"], first["land"]
    two = len(climatologies) == 2
    written = [
        map_panels({n: c["ar_frequency"] for n, c in climatologies.items()}, lat, lon, out_dir / "ar_frequency.png",
                   land=land, label="AR frequency (fraction of time steps)", cmap="YlGnBu", difference=two,
                   title="Atmospheric river frequency"),
        map_panels({n: c["tc_track_density"].astype(float) for n, c in climatologies.items()}, first["box_lat"],
                   first["box_lon"], out_dir / "tc_track_density.png", label="TC tracks through the box",
                   cmap="magma_r", difference=two, title="Tropical cyclone track density"),
        track_map({n: c["tracks"] for n, c in climatologies.items()}, lat, lon, out_dir / "tc_tracks.png", land=land,
                  title="Tropical cyclone tracks"),
    ]
    series = {}
    for quantity, label in (("tc_tracks", "TC tracks"), ("ar_objects", "AR objects")):
        for name, clim in climatologies.items():
            table = clim["yearly"]
            if quantity in table.columns:
                series[f"{name}: {label}"] = dict(zip(table["year"].astype(int), table[quantity]))
    written.append(yearly_counts(series, out_dir / "yearly_counts.png", ylabel="events per year (by first time step)",
                                 title="Events per year"))
    table = side_by_side_table({n: c["yearly"] for n, c in climatologies.items()})
    csv_path = out_dir / "climatology_side_by_side.csv"
    with atomic_output(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    return [*written, csv_path]


def figures_parser(parser) -> None:
    """Arguments of ``climseg figures``."""
    parser.description = (
        "The report's figures from the climatology directories (climseg climatology --out/--merge) of the heuristic "
        "labels and of the network's masks: AR frequency and TC track density maps side by side with their "
        "difference, TC track maps over coastlines (from the climatology's land mask), events per year; and "
        "climatology_side_by_side.csv (year, quantity, heuristic, network).")
    parser.add_argument("--heuristic", required=True, metavar="DIR", help="climatology of the heuristic labels")
    parser.add_argument("--network", required=True, metavar="DIR", help="climatology of the network's masks")
    parser.add_argument("--out", required=True, metavar="DIR", help="directory of the figures")


def figures_command(args) -> None:
    """Run ``climseg figures``."""
    from climseg.cli import CommandError

    try:
        climatologies = {name: read_climatology(getattr(args, name)) for name in SOURCES}
        written = figures(climatologies, args.out)
    except (OSError, ValueError) as error:
        raise CommandError(str(error).splitlines()[0]) from None
    for path in written:
        print(f"wrote {path}")
