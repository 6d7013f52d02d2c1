rule evaluate:
    """Test-set IoU per class of the trained network, as JSON and Markdown."""
    input:
        run=rules.train.output.run,
        test=str(SPLIT / "test.txt"),
    output:
        report=str(REPORT_JSON),
        markdown=str(REPORT_MD),
    params:
        launcher=serial_launcher(cores=7, gpus=1),
    log:
        str(LOGS / "evaluate.log"),
    benchmark:
        str(BENCHMARKS / "evaluate.tsv")
    conda:
        "../../envs/training.yaml"
    resources:
        runtime=config["runtime"]["evaluate"],
    shell:
        "{params.launcher} climseg evaluate --run {input.run} --data {input.test}"
        " --out {output.report} --no-progress > {log} 2>&1"
