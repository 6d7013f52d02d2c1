rule label:
    """Label one CAM5 netCDF file: one DeepCAM sample per time step into samples/<file>/.

    One job per file, one process each: Snakemake runs as many at once as it has cores, and batch
    systems get them in groups (group-components in the profiles).
    The labelling parameters are params: editing one relabels every file and reruns what follows.
    """
    input:
        netcdf=str(RAW / "{file}.nc"),
    output:
        samples=directory(str(SAMPLES / "{file}")),
        config=str(SAMPLES / "{file}.label.yaml"),
    params:
        launcher=serial_launcher(),
        parameters_yaml=as_yaml(config["label"]["parameters"]),
        run=config["label"]["run"],
    threads: 1
    group:
        "label"
    log:
        str(LOGS / "label" / "{file}.log"),
    benchmark:
        str(BENCHMARKS / "label" / "{file}.tsv")
    conda:
        "../../envs/labeling.yaml"
    resources:
        runtime=config["runtime"]["label"],
    shell:
        "printf '%s' {params.parameters_yaml:q} > {output.config} && "
        "{params.launcher} climseg label {input.netcdf} --out {output.samples}"
        " --config {output.config} --workers {threads} --run {params.run} > {log} 2>&1"
