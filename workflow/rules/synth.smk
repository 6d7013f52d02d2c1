rule synth:
    """Demo input: CAM5-like h2 netCDF files with planted TCs and ARs (only when raw_data is null)."""
    output:
        netcdf=expand(str(RAW / "{name}.nc"), name=input_files()),
        truth=expand(str(RAW / "{name}.truth.h5"), name=input_files()),
    params:
        launcher=serial_launcher(),
        out=lambda wildcards, output: os.path.dirname(output.netcdf[0]),
        days=config["synth"]["days"],
        start_date=config["synth"]["start_date"],
        lat=config["synth"]["lat"],
        lon=config["synth"]["lon"],
        seed=config["synth"]["seed"],
        case=config["synth"]["case"],
        tracks="--tracks" if config["synth"].get("tracks", False) else "",
    log:
        str(LOGS / "synth.log"),
    benchmark:
        str(BENCHMARKS / "synth.tsv")
    conda:
        "../../envs/labeling.yaml"
    resources:
        runtime=config["runtime"]["synth"],
    shell:
        "{params.launcher} climseg synth --out {params.out} --days {params.days}"
        " --start-date {params.start_date} --lat {params.lat} --lon {params.lon}"
        " --seed {params.seed} --case {params.case} {params.tracks} > {log} 2>&1"
