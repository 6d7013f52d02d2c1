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
