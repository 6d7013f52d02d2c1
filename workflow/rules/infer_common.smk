"""Paths and input functions of the infer step (infer.smk): which raw files get masks, and where."""

INFER_RAW = Path(config["infer"]["raw_data"]) if config["infer"]["raw_data"] is not None else RAW
MASKS = RESULTS / "masks"

if config["infer"]["raw_data"] is not None and not INFER_RAW.is_dir():
    raise WorkflowError(f"config key infer.raw_data: {INFER_RAW} is not a directory "
                        "(set it to a directory of netCDF model output, or null for the workflow's raw data)")


def infer_inputs():
    """Names (without .nc) of the files to infer: those in infer.raw_data, or the workflow's own input."""
    if config["infer"]["raw_data"] is None:
        return input_files()
    names = sorted(p.name[: -len(".nc")] for p in INFER_RAW.glob("*.nc")
                   if not p.name.endswith((".climseg.nc", ".labels.nc")))
    if not names:
        raise WorkflowError(f"config key infer.raw_data: no netCDF files (*.nc) in {INFER_RAW}")
    return names


def mask_files(wildcards=None):
    """The mask file of every input to infer (one job each)."""
    return [str(MASKS / f"{name}.climseg.nc") for name in infer_inputs()]
