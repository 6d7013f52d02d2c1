INSTANCES = config["train"].get("instances", 1)
if INSTANCES < 1 or RANKS % INSTANCES:
    raise ValueError(f"train.instances: {INSTANCES} must be at least 1 and divide the {RANKS} ranks")


rule train:
    """Train the network on the staged samples on all ranks (Horovod), a few steps in the demo.

    With ``train: instances: K`` (MLPerf HPC's weak scaling: models trained per minute), the allocation
    runs K independent trainings at once, RANKS / K ranks each, seeds seed .. seed + K - 1; the first is
    the run (TRAIN/run), the others are kept in TRAIN/run/instances/seed-S, each with its mllog.txt and
    summary.json. Their logs: LOGS/train.log (the first) and LOGS/train.log.seed-S. The staged manifest
    gives each of the RANKS ranks its files, so with K > 1 the instances read the split's lists (SPLIT/train.txt,
    SPLIT/validation.txt) from the shared file system instead (staging per instance is not done).

    Training parameters are params (and the run's TRAIN.yaml): editing one reruns train and evaluate.

    The run trains in a work directory that is not an output (Snakemake deletes the outputs of a failed
    job): TRAIN/work/<digest of the settings and of stats.h5>. A run stopped by the batch system's
    SIGTERM/SIGUSR1 checkpoints there and exits 75; rerunning the workflow with the same settings and data
    continues it with --resume. The finished run is moved to the output directory.
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
        "key={params.run_key}-$(sha1sum < {input.stats} | cut -c1-12) && pids=() && "
        "for i in $(seq 0 $(({params.instances} - 1))); do"
        " seed=$(({params.seed} + i)); work={params.work_root}/$key; log={log};"
        " if [ $i -gt 0 ]; then work=$work-seed$seed; log={log}.seed-$seed; fi;"
        " resume=$(test -f $work/checkpoints/index.json && echo --resume || true);"
        " echo \"train: run directory $work ${{resume:-(new run)}}\" > $log;"
        " {params.env} {resources.mpi} -n $(({resources.tasks} / {params.instances}))"
        " climseg train --data {params.manifest} --validation-data {params.validation}"
        " --stats {input.stats} --model {params.model} --out $work $resume --config {output.config}"
        " --epochs {params.epochs} --steps-per-epoch {params.steps_per_epoch}"
        " --batch-size {params.batch_size} --precision {params.precision}"
        " --gradient-lag {params.gradient_lag} --seed $seed --no-progress >> $log 2>&1 & pids+=($!);"
        " done && status=0 && for pid in ${{pids[@]}}; do wait $pid || status=$?; done && test $status = 0 && "
        "for i in $(seq 1 $(({params.instances} - 1))); do seed=$(({params.seed} + i));"
        " mkdir -p {params.work_root}/$key/instances && mv {params.work_root}/$key-seed$seed"
        " {params.work_root}/$key/instances/seed-$seed; done && "
        "mv {params.work_root}/$key {output.run} && rm -rf {params.work_root}"
