rule split:
    """Train / validation / test lists, whole blocks of time per split, fixed seed."""
    input:
        samples=labelled_dirs,
    output:
        train=str(SPLIT / "train.txt"),
        validation=str(SPLIT / "validation.txt"),
        test=str(SPLIT / "test.txt"),
    params:
        out=lambda wildcards, output: os.path.dirname(output.train),
        fractions=" ".join(str(f) for f in config["split"]["fractions"]),
        seed=config["split"]["seed"],
        block_hours=config["split"]["block_hours"],
        gap_hours=config["split"]["gap_hours"],
    log:
        str(LOGS / "split.log"),
    benchmark:
        str(BENCHMARKS / "split.tsv")
    conda:
        "../../envs/labeling.yaml"
    resources:
        runtime=config["runtime"]["split"],
    shell:
        "climseg split {input.samples} --out {params.out} --fractions {params.fractions}"
        " --seed {params.seed} --block-hours {params.block_hours} --gap-hours {params.gap_hours}"
        " > {log} 2>&1"
