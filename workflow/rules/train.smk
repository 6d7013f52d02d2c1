INSTANCES = config["train"].get("instances", 1)
if INSTANCES < 1 or RANKS % INSTANCES:
    raise ValueError(f"train.instances: {INSTANCES} must be at least 1 and divide the {RANKS} ranks")


rule train:
    """Train the network on the staged samples on all ranks (Horovod), a few steps in the demo.

    With ``train: instances: K`` (MLPerf HPC's weak scaling: models trained per minute), the allocation
    runs K independent trainings at once, RANKS / K ranks each, seeds seed .. seed + K - 1; the first is
    the run (TRAIN/run), the others are kept in TRAIN/run/instances/seed-S, each with its mllog.txt and
    summary.json (the first one's MLPerf log is TRAIN/mllog.txt, begun by rule stage). Their logs:
    LOGS/train.log (the first) and LOGS/train.log.seed-S. The staged manifest
    gives each of the RANKS ranks its files, so with K > 1 the instances read the split's lists (SPLIT/train.txt,
    SPLIT/validation.txt) from the shared file system instead (staging per instance is not done).

    Training parameters are params (and the run's TRAIN.yaml): editing one reruns train and evaluate.

    The run trains in a work directory that is not an output (Snakemake deletes the outputs of a failed
    job): TRAIN/work/<digest of the settings>-<digest of stats.h5>. A run stopped by the batch system's
    SIGTERM/SIGUSR1 checkpoints there and exits 75; rerunning the workflow with the same settings and data
    continues it with --resume. The finished run is moved to the output directory; other settings' work
    directories are kept. training/workdir.py does all of this (python -m training.workdir --help).
    """
    input:
        staged=rules.stage.output.record,
        stats=str(STATS),
    output:
        run=directory(str(TRAIN / "run")),
        config=str(TRAIN / "train.yaml"),
    params:
        manifest=str(Path(NODE_LOCAL_DIR) / "manifest.json") if INSTANCES == 1 else str(SPLIT / "train.txt"),
        validation=str(Path(NODE_LOCAL_DIR) / "manifest.json") if INSTANCES == 1 else str(SPLIT / "validation.txt"),
        parameters_yaml=as_yaml(config["train"]["parameters"]),
        model=config["train"]["model"],
        epochs=config["train"]["epochs"],
        steps_per_epoch=config["train"]["steps_per_epoch"],
        batch_size=config["train"]["batch_size"],
        precision=config["train"]["precision"],
        gradient_lag=config["train"]["gradient_lag"],
        seed=config["train"]["seed"],
        instances=INSTANCES,
        ranks_per_instance=RANKS // INSTANCES,
        mllog=str(TRAIN / "mllog.txt"),  # begun by rule stage (staging_start/stop); instances > 0 keep their own
        ranks=RANKS,  # the global batch: another number of ranks retrains
        work_root=str(TRAIN / "work"),
        run_key=training_run_key(),
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
        "python -m training.workdir --work-root {params.work_root} --key {params.run_key}"
        " --stats {input.stats} --out {output.run} --instances {params.instances} --seed {params.seed} --log {log} --"
        " {params.env} {resources.mpi} -n {params.ranks_per_instance}"
        " climseg train --data {params.manifest} --validation-data {params.validation}"
        " --stats {input.stats} --model {params.model} --config {output.config}"
        " --epochs {params.epochs} --steps-per-epoch {params.steps_per_epoch}"
        " --batch-size {params.batch_size} --precision {params.precision}"
        " --gradient-lag {params.gradient_lag} --mllog {params.mllog} --no-progress > {log} 2>&1"
