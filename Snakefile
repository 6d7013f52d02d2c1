"""climseg: label -> stats -> split -> stage -> train -> evaluate, infer, on a laptop or a supercomputer.

    snakemake --profile profiles/local --cores 2          # the demo (config/config.yaml)
    snakemake --profile profiles/summit --config machine=summit raw_data=/path/to/cam5
    snakemake --profile profiles/local -n --until stage   # what would run up to staging

Settings: config/config.yaml (schema: workflow/schemas/config.schema.yaml), overlaid by
config/machines/<machine>.yaml (MPI launcher, node-local staging, Horovod), chosen by the profile.
"""

from pathlib import Path


configfile: str(Path(workflow.basedir) / "config" / "config.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/infer_common.smk"
include: "workflow/rules/report_common.smk"


localrules:
    all,
    split,


include: "workflow/rules/synth.smk"
include: "workflow/rules/label.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/split.smk"
include: "workflow/rules/stage.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/infer.smk"
include: "workflow/rules/climatology.smk"


report: "workflow/report/workflow.rst"


rule all:
    # The report, and every intermediate result that is not temporary: Snakemake does not rerun a job
    # because one of its inputs is missing while its output exists, so without them a job that failed
    # after its settings changed (its outputs deleted) would leave the old report looking up to date.
    input:
        report=REPORT_JSON,
        markdown=REPORT_MD,
        samples=labelled_dirs(),
        stats=str(STATS),
        split=rules.split.output,
        run=rules.train.output.run,
        masks=mask_files(),
        labels=label_mask_files(),
        compare=rules.compare.output.json,
        animation=rules.animate.output.gif,
        figures=rules.figures.output,
    default_target: True


onstart:
    check_machine_fits_executor()


onsuccess:
    print_report_location()
