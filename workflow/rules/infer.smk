# climseg infer: the trained network's masks of raw netCDF files, one CF netCDF file per input
# (inputs and paths: infer_common.smk).


rule infer:
    """Masks of one raw netCDF file by the trained network: MASKS/<file>.climseg.nc (CF-1.8, ARTMIP tags).

    One job per file on one process with the machine's serial launcher (one GPU). The masks depend on the
    trained run, so any change that retrains (a training setting, new labels) reruns every infer job;
    editing infer.checkpoint reruns them too.
    """
    input:
        netcdf=str(INFER_RAW / "{file}.nc"),
        run=rules.train.output.run,
    output:
        masks=str(MASKS / "{file}.climseg.nc"),
    params:
        launcher=serial_launcher(cores=7, gpus=1),
        checkpoint=config["infer"]["checkpoint"],
        batch_size=config["infer"]["batch_size"],
        out=lambda wildcards, output: str(Path(output.masks).parent),
    log:
        str(LOGS / "infer" / "{file}.log"),
    benchmark:
        str(BENCHMARKS / "infer" / "{file}.tsv")
    conda:
        "../../envs/training.yaml"
    resources:
        runtime=config["infer"]["runtime"],
    shell:
        "{params.launcher} climseg infer {input.netcdf} --run {input.run} --out {params.out}"
        " --checkpoint {params.checkpoint} --batch-size {params.batch_size} --overwrite --no-progress"
        " > {log} 2>&1"
