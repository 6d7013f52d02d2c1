rule train:
    """Train the network on the staged samples on all ranks (Horovod), a few steps in the demo.

    Training parameters are params (and the run's TRAIN.yaml): editing one reruns train and evaluate.
    """
    input:
        staged=rules.stage.output.record,
        stats=str(STATS),
    output:
        run=directory(str(TRAIN / "run")),
        config=str(TRAIN / "train.yaml"),
    params:
        manifest=str(Path(NODE_LOCAL_DIR) / "manifest.json"),
        parameters=config["train"]["parameters"],
        parameters_yaml=as_yaml(config["train"]["parameters"]),
        model=config["train"]["model"],
        epochs=config["train"]["epochs"],
        steps_per_epoch=config["train"]["steps_per_epoch"],
        batch_size=config["train"]["batch_size"],
        precision=config["train"]["precision"],
        gradient_lag=config["train"]["gradient_lag"],
        seed=config["train"]["seed"],
        ranks=RANKS,  # the global batch: another number of ranks retrains
        env=environment(config["mpi"]["env"]),
    group:
        "train"
    log:
        str(LOGS / "train.log"),
    benchmark:
        str(BENCHMARKS / "train.tsv")
    conda:
        "../../envs/training.yaml"
    resources:
        mpi=config["mpi"]["launcher"],
        tasks=RANKS,
        nodes=config["train"]["nodes"],
        runtime=config["runtime"]["train"],
    shell:
        "printf '%s' {params.parameters_yaml:q} > {output.config} && "
        "{params.env} {resources.mpi} -n {resources.tasks}"
        " climseg train --data {params.manifest} --validation-data {params.manifest}"
        " --stats {input.stats} --model {params.model} --out {output.run} --config {output.config}"
        " --epochs {params.epochs} --steps-per-epoch {params.steps_per_epoch}"
        " --batch-size {params.batch_size} --precision {params.precision}"
        " --gradient-lag {params.gradient_lag} --seed {params.seed} --no-progress > {log} 2>&1"
