"""Animation (GIF) of IVT or TMQ with the heuristic labels and the network's masks over consecutive time steps.

Like the paper's segmentation animation: each frame is one time step, two panels side by side, the
field in colour with the TC (red) and AR (white) outlines of one mask set each (left: heuristic labels
of ``climseg export``; right: the network's masks of ``climseg infer``). Frames are drawn one at a time
from the raw file and the two mask files (the same raw input, same grid and time axis), so the memory
held is one field and the finished frames (small palette images), never the record.

The field is read by the labeller's reader (any orientation, CF packing and missing values) and shown
on its canonical grid; the mask files are put on the same grid. IVT is the proxy
TMQ |(U850, V850)| (kg m-1 s-1) of ``climseg plot``; TMQ is precipitable water (kg m-2).

Examples
--------
>>> animate([("raw/d1.nc", "masks/d1.labels.nc", "masks/d1.climseg.nc")], "events.gif")   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from climseg.atomic import atomic_output
from climseg.contract import AR, TC

FIELDS = ("ivt", "tmq")
FRAME_INCHES = (12.8, 3.8)
"""Width and height of a frame, inches (at :data:`DPI`: 1024 x 304 pixels)."""
DPI = 80


def field_values(fields: dict, field: str):
    """The field to show and its colour bar label.

    Parameters
    ----------
    fields : dict of CAM5 name -> ndarray (lat, lon)
    field : {"ivt", "tmq"}

    Returns
    -------
    values : ndarray (lat, lon), kg m-1 s-1 (IVT proxy) or kg m-2 (TMQ)
    label : str
    """
    from labeling.ivt import ivt_proxy

    if field == "tmq":
        return fields["TMQ"], "TMQ, precipitable water (kg m-2)"
    if field == "ivt":
        return ivt_proxy(fields["TMQ"], fields["U850"], fields["V850"])[2], "IVT proxy TMQ |(U850, V850)| (kg m-1 s-1)"
    raise ValueError(f"unknown field {field!r} (choose from {', '.join(FIELDS)})")


def frames(triples, *, field: str = "ivt", max_frames: int | None = None):
    """Yield (time label, values (lat, lon), {panel: classes (lat, lon)}, lat, lon, colour bar label) per step.

    Parameters
    ----------
    triples : iterable of (raw netCDF, heuristic mask file, network mask file); either mask file may be None
    field : {"ivt", "tmq"}
    max_frames : int or None, stop after this many time steps
    """
    from events.reading import mask_grid, read_steps
    from labeling.reading import open_model_output

    count = 0
    for raw, heuristic, network in triples:
        with open_model_output(raw) as model:
            panels = {}
            for name, path in (("heuristic labels", heuristic), ("network", network)):
                if path is None:
                    continue
                grid = mask_grid(path)
                steps = read_steps(path)
                if not (np.array_equal(grid.lat_deg, model.lat_deg) and np.array_equal(grid.lon_deg, model.lon_deg)):
                    raise ValueError(f"{path}: masks on a grid that does not fit {raw}")
                panels[name] = (path, steps)
            for step in range(len(model)):
                if max_frames is not None and count >= max_frames:
                    return
                masks = {}
                for name, (path, steps) in panels.items():
                    mask_step = next(steps, None)
                    if mask_step is None:
                        raise ValueError(f"{path}: masks do not fit {raw}: {step} time steps, the raw file has "
                                         f"{len(model)}")
                    masks[name] = mask_step[1].classes
                fields, _ = model.read_step(step)
                values, label = field_values(fields, field)
                yield model.time_label(step), values, masks, model.lat_deg, model.lon_deg, label
                count += 1


def render_frame(time_label: str, values, panels: dict, lat_deg, lon_deg, *, label: str, vmax: float,
                 land=None):
    """One frame as a PIL image (RGB): one panel per mask set, the field with TC and AR outlines."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from PIL import Image

    from events.plots import draw_coastlines

    names = list(panels) or ["field"]
    fig = Figure(figsize=FRAME_INCHES, dpi=DPI, layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False).ravel()
    for ax, name in zip(axes, names):
        mesh = ax.pcolormesh(lon_deg, lat_deg, values, cmap="viridis", vmin=0.0, vmax=vmax, shading="nearest",
                             rasterized=True)
        draw_coastlines(ax, lat_deg, lon_deg, land, colour="0.85", linewidth=0.5)
        classes = panels.get(name)
        if classes is not None:
            for class_id, colour in ((AR, "white"), (TC, "red")):
                mask = (classes == class_id).astype(np.float32)
                if mask.any():
                    ax.contour(lon_deg, lat_deg, mask, levels=[0.5], colors=colour, linewidths=1.0)
        ax.set_xlim(float(lon_deg.min()), float(lon_deg.max()))
        ax.set_ylim(float(lat_deg.min()), float(lat_deg.max()))
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{name}  {time_label}", fontsize=10)
    fig.colorbar(mesh, ax=list(axes), label=label, shrink=0.9, extend="max")
    axes[0].legend(handles=[Line2D([], [], color="red", label="TC"), Line2D([], [], color="white", label="AR")],
                   loc="lower left", facecolor="0.35", labelcolor="white", fontsize=8)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB")
    return image.copy()


def animate(triples, out_gif, *, field: str = "ivt", max_frames: int | None = 48, seconds_per_frame: float = 0.4,
            land=None, vmax: float | None = None) -> tuple[Path, int]:
    """Write the animation of consecutive time steps as a looping GIF.

    Parameters
    ----------
    triples : list of (raw netCDF, heuristic mask file or None, network mask file or None), in time order
    out_gif : path of the GIF (written atomically)
    field : {"ivt", "tmq"}
    max_frames : int or None, at most this many time steps (the first ones)
    seconds_per_frame : float, display time of a frame, s
    land : ndarray (lat, lon) on the canonical grid, or None: coastlines
    vmax : float or None, top of the colour scale in the field's unit
        (default: the 99.5th percentile of the first frame, so TC cores saturate and the rivers show)

    Returns
    -------
    (path, number of frames)
    """
    images = []
    for time_label, values, panels, lat, lon, label in frames(triples, field=field, max_frames=max_frames):
        if vmax is None:
            vmax = float(np.nanpercentile(values, 99.5)) if np.isfinite(values).any() else 1.0
        images.append(render_frame(time_label, values, panels, lat, lon, label=label, vmax=vmax, land=land)
                      .quantize(colors=255, dither=0))
    if not images:
        raise ValueError(f"{out_gif}: no time steps to animate")
    out_gif = Path(out_gif)
    with atomic_output(out_gif) as tmp:
        # disposal 1 and no optimisation: every time step stays a frame of its own, even if two look alike
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], loop=0,
                       duration=int(round(seconds_per_frame * 1000)), optimize=False, disposal=1)
    return out_gif, len(images)


def animate_parser(parser) -> None:
    """Arguments of ``climseg animate``."""
    parser.description = (
        "Animate IVT or TMQ of raw netCDF files with the heuristic labels (climseg export) and the network's "
        "masks (climseg infer) outlined side by side, one frame per time step, as a looping GIF "
        "(TC red, AR white). Mask files are found by the raw file's stem in the given directories.")
    parser.add_argument("inputs", nargs="+", metavar="RAW.nc", help="raw netCDF files, in time order")
    parser.add_argument("--heuristic", metavar="DIR", help="directory of <stem>.labels.nc (climseg export)")
    parser.add_argument("--network", metavar="DIR", help="directory of <stem>.climseg.nc (climseg infer)")
    parser.add_argument("--out", required=True, metavar="GIF", help="the animation")
    parser.add_argument("--land", metavar="CLIMATOLOGY.nc",
                        help="draw coastlines from the variable 'land' of this file (climseg climatology's "
                             "climatology.nc, on the canonical grid of the raw files)")
    parser.add_argument("--field", choices=FIELDS, default="ivt", help="field drawn in colour")
    parser.add_argument("--max-frames", type=int, default=48, help="at most this many time steps (0: all)")
    parser.add_argument("--seconds-per-frame", type=float, default=0.4, help="display time of each frame (s)")


def animate_command(args) -> None:
    """Run ``climseg animate``."""
    from climseg.cli import CommandError
    from inference.masks import HEURISTIC, NETWORK, mask_file_name

    if args.heuristic is None and args.network is None:
        raise CommandError("give --heuristic DIR, --network DIR or both")
    triples = []
    for raw in map(Path, args.inputs):
        masks = []
        for directory, source in ((args.heuristic, HEURISTIC), (args.network, NETWORK)):
            path = None if directory is None else Path(directory) / mask_file_name(raw, source)
            if path is not None and not path.is_file():
                raise CommandError(f"{path}: no such mask file for {raw}")
            masks.append(path)
        triples.append((raw, *masks))
    try:
        land = None
        if args.land is not None:
            import xarray as xr

            with xr.open_dataset(args.land) as climatology:
                if "land" not in climatology.variables:
                    raise ValueError(f"{args.land}: no variable 'land'")
                land = climatology["land"].values
        out, count = animate(triples, args.out, field=args.field, max_frames=args.max_frames or None,
                             seconds_per_frame=args.seconds_per_frame, land=land)
    except (OSError, ValueError) as error:
        raise CommandError(str(error).splitlines()[0]) from None
    print(f"wrote {out}: {count} frames")
