rule stats:
    """Per-channel statistics of all samples (normalization of the network input)."""
    input:
        samples=labelled_dirs,
    output:
        stats=str(STATS),
    params:
        launcher=serial_launcher(),
    log:
        str(LOGS / "stats.log"),
    benchmark:
        str(BENCHMARKS / "stats.tsv")
    conda:
        "../../envs/labeling.yaml"
    resources:
        runtime=config["runtime"]["stats"],
    shell:
        "{params.launcher} climseg stats {input.samples} --out {output.stats} > {log} 2>&1"
