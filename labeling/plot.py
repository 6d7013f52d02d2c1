"""Quick-look map of a sample: IVT or TMQ on a lat/lon grid with the TC and AR masks outlined."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from climseg.atomic import atomic_output
from climseg.contract import AR, CHANNELS, TC

FIELDS = ("ivt", "tmq")


def quicklook_field(data, field: str):
    """The field to draw and its label.

    Parameters
    ----------
    data : ndarray (lat, lon, 16), channels in contract order
    field : {"ivt", "tmq"}

    Returns
    -------
    values : ndarray (lat, lon)
        IVT proxy TMQ * |(U850, V850)| in kg m-1 s-1, or TMQ in kg m-2.
    label : str
    """
    from labeling.ivt import ivt_proxy

    tmq = data[..., CHANNELS.index("TMQ")]
    if field == "tmq":
        return tmq, "TMQ, precipitable water (kg m-2)"
    if field == "ivt":
        _, _, ivt = ivt_proxy(tmq, data[..., CHANNELS.index("U850")], data[..., CHANNELS.index("V850")])
        return ivt, "IVT proxy TMQ |(U850, V850)| (kg m-1 s-1)"
    raise ValueError(f"unknown field {field!r} (choose from {', '.join(FIELDS)})")


def plot_sample(path, out_png, *, field: str = "ivt") -> Path:
    """Draw ``field`` of the sample file ``path`` with its TC (red) and AR (white) outlines into ``out_png``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from labeling.sample import read_sample

    sample = read_sample(path)
    values, label = quicklook_field(sample.data, field)
    lat, lon = sample.lat_deg, sample.lon_deg
    fig = Figure(figsize=(13, 6.8), layout="constrained")
    ax = fig.add_subplot()
    cmap = "viridis" if field == "ivt" else "Blues"
    top = float(np.nanpercentile(values, 99.8)) if np.isfinite(values).any() else None  # TC cores saturate
    mesh = ax.pcolormesh(lon, lat, values, cmap=cmap, shading="nearest", rasterized=True, vmax=top)
    fig.colorbar(mesh, ax=ax, label=label, shrink=0.85, extend="max")
    for class_id, colour in ((AR, "white"), (TC, "red")):
        mask = (sample.labels == class_id).astype(float)
        if mask.any():
            ax.contour(lon, lat, mask, levels=[0.5], colors=colour, linewidths=1.3)
    tc_pixels, ar_pixels = int((sample.labels == TC).sum()), int((sample.labels == AR).sum())
    handles = [Line2D([], [], color="red", lw=2, label=f"TC mask ({tc_pixels} px)"),
               Line2D([], [], color="white", lw=2, label=f"AR mask ({ar_pixels} px)")]
    legend = ax.legend(handles=handles, loc="lower left", facecolor="0.35", framealpha=0.85)
    for text in legend.get_texts():
        text.set_color("white")
    centres = json.loads(sample.attrs.get("tc_centres", "[]"))
    if centres:
        ax.plot([c["lon_deg"] for c in centres], [c["lat_deg"] for c in centres], "r+", ms=10, mew=2)
    ax.set_xlim(lon.min(), lon.max())
    ax.set_ylim(-90, 90)
    ax.set_xticks(np.arange(0, 361, 30))
    ax.set_yticks(np.arange(-90, 91, 30))
    ax.set_xlabel("longitude (degrees east)")
    ax.set_ylabel("latitude (degrees north)")
    ax.set_aspect("equal")
    when = sample.attrs.get("time", "")
    ax.set_title(f"{Path(path).name}  {when}".strip())
    out_png = Path(out_png)
    with atomic_output(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return out_png
