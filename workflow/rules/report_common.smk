"""Paths and input functions of export, compare, animate and the figures (climatology.smk)."""

LABEL_MASKS = RESULTS / "labels"
EVENTS = RESULTS / "events"
FIGURES = RESULTS / "report" / "figures"


def label_mask_files(wildcards=None):
    """The heuristic mask file of every input to infer (one export job each), paired with mask_files()."""
    return [str(LABEL_MASKS / f"{name}.labels.nc") for name in infer_inputs()]


def animation_inputs(wildcards=None):
    """The first raw files to animate: enough days for report.animation.max_frames steps (8 per day)."""
    days = -(-config["report"]["animation"]["max_frames"] // 8)
    return [str(INFER_RAW / f"{name}.nc") for name in infer_inputs()[:days]]


def animation_masks(kind):
    def masks(wildcards):
        folder, suffix = (LABEL_MASKS, ".labels.nc") if kind == "heuristic" else (MASKS, ".climseg.nc")
        return [str(folder / (Path(raw).name[: -len(".nc")] + suffix)) for raw in animation_inputs()]

    return masks


SOURCES = ("heuristic", "network")
"""The two mask sets: the heuristic labels (rule export) and the network's masks (rule infer)."""


wildcard_constraints:
    source="heuristic|network",


def source_mask(wildcards):
    """The mask file of one input and one mask set."""
    if wildcards.source == "heuristic":
        return str(LABEL_MASKS / f"{wildcards.file}.labels.nc")
    return str(MASKS / f"{wildcards.file}.climseg.nc")


def partial_sums(wildcards):
    """The partial sums of every input file of one mask set (one climatology_partial job each)."""
    return [str(EVENTS / wildcards.source / "partial" / f"{name}.nc") for name in infer_inputs()]


def climatology_outputs(source):
    """The files ``climseg climatology --merge`` writes for one mask set."""
    names = {"climatology": "climatology.nc", "yearly": "climatology_yearly.csv",
             "monthly": "climatology_monthly.csv", "tracks": "tracks.csv", "track_table": "track_table.csv",
             "ar_objects": "ar_objects.csv"}
    return {key: str(EVENTS / source / name) for key, name in names.items()}


def tracking_options():
    """The tracking and climatology settings (config section climatology) as climseg climatology options."""
    settings = config["climatology"]
    options = [f"--max-speed-km-per-day {settings['max_speed_km_per_day']}",
               f"--max-gap-steps {settings['max_gap_steps']}",
               f"--min-duration-hours {settings['min_duration_hours']}", f"--box-deg {settings['box_deg']}",
               f"--ar-min-area-km2 {settings['ar_min_area_km2']}"]
    return " ".join(options)
