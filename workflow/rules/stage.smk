rule stage:
    """Copy each rank's training and validation samples to node-local storage, over MPI.

    The MLPerf-style log of the run, RESULTS/train/mllog.txt, starts here (staging_start/stop, rank 0):
    staging begins a new time to train; train appends to the same file (workflow/README.md).

    On machines whose node-local storage is wiped at the end of the batch job
    (staging.job_scoped), the output is a node-local temporary record: stage and train then run
    as one batch job, stage first (see stage_output in common.smk).
    """
    input:
        train=str(SPLIT / "train.txt"),
        validation=str(SPLIT / "validation.txt"),
        stats=str(STATS),
    output:
        record=stage_output(),
    params:
        node_local_dir=NODE_LOCAL_DIR,
        samples_per_rank=config["stage"]["samples_per_rank"],
        validation_samples_per_rank=config["stage"]["validation_samples_per_rank"],
        seed=config["stage"]["seed"],
        mllog=str(TRAIN / "mllog.txt"),
        # the plan is per rank: another number of ranks restages. A plain value, because Snakemake
        # does not compare params computed from resources (record) when deciding what to rerun.
        ranks=RANKS,
        env=environment(config["mpi"]["env"]),
        record=lambda wildcards, resources: json.dumps({
            "node_local_dir": NODE_LOCAL_DIR, "ranks": resources.tasks, "nodes": resources.nodes,
            "machine": config["machine"]}),
    group:
        "train"
    log:
        str(LOGS / "stage.log"),
    benchmark:
        str(BENCHMARKS / "stage.tsv")
    conda:
        "../../envs/staging.yaml"
    resources:
        mpi=config["mpi"]["launcher"],
        tasks=RANKS,
        nodes=config["train"]["nodes"],
        runtime=config["runtime"]["stage"],
    shell:
        "rm -f {params.mllog} && "
        "{params.env} {resources.mpi} -n {resources.tasks}"
        " climseg stage --train {input.train} --validation {input.validation}"
        " --samples-per-rank {params.samples_per_rank}"
        " --validation-samples-per-rank {params.validation_samples_per_rank}"
        " --seed {params.seed} --node-local-dir {params.node_local_dir} --stats {input.stats}"
        " --mllog {params.mllog} --no-progress"
        " > {log} 2>&1 && echo {params.record:q} > {output.record}"
