# From masks to answers: the heuristic labels as mask files (export), heuristic vs network scores (compare),
# the animation, and the report's figures. `snakemake --report report.html` collects every output marked
# report(...) with its caption (workflow/report/*.rst).

rule export:
    """Heuristic labels of one raw file as a mask file (LABEL_MASKS/<file>.labels.nc), the format of infer's.

    Same labelling parameters as rule label (editing one reruns this), on the files rule infer reads.
    """
    input:
        netcdf=str(INFER_RAW / "{file}.nc"),
    output:
        masks=str(LABEL_MASKS / "{file}.labels.nc"),
        config=str(LABEL_MASKS / "{file}.label.yaml"),
    params:
        launcher=serial_launcher(),
        parameters_yaml=as_yaml(config["label"]["parameters"]),
        out=lambda wildcards, output: str(Path(output.masks).parent),
    group:
        "export"  # batch systems: many files per batch job (group-components in the profiles)
    log:
        str(LOGS / "export" / "{file}.log"),
    benchmark:
        str(BENCHMARKS / "export" / "{file}.tsv")
    conda:
        "../../envs/labeling.yaml"
    resources:
        runtime=config["runtime"]["label"],
    shell:
        "printf '%s' {params.parameters_yaml:q} > {output.config} && "
        "{params.launcher} climseg export {input.netcdf} --out {params.out} --config {output.config}"
        " --no-progress > {log} 2>&1"


rule compare:
    """The network's events scored against the heuristics': AR objects by footprint IoU, pixel IoU per class."""
    input:
        reference=label_mask_files,
        candidate=mask_files,
        reference_tracks=climatology_outputs("heuristic")["tracks"],
        candidate_tracks=climatology_outputs("network")["tracks"],
    output:
        json=report(str(EVENTS / "compare.json"), caption="../report/compare.rst", category="Heuristic vs network"),
        csv=report(str(EVENTS / "compare.csv"), caption="../report/compare.rst", category="Heuristic vs network"),
    params:
        launcher=serial_launcher(),
        max_distance_km=config["report"]["compare"]["max_distance_km"],
        min_common_steps=config["report"]["compare"]["min_common_steps"],
        min_iou=config["report"]["compare"]["min_iou"],
        min_area_km2=config["report"]["compare"]["min_ar_area_km2"],
    log:
        str(LOGS / "compare.log"),
    benchmark:
        str(BENCHMARKS / "compare.tsv")
    conda:
        "../../envs/events.yaml"
    resources:
        runtime=config["report"]["runtime"],
    shell:
        "{params.launcher} climseg compare --reference-masks {input.reference} --candidate-masks {input.candidate}"
        " --reference-tracks {input.reference_tracks} --candidate-tracks {input.candidate_tracks}"
        " --max-distance-km {params.max_distance_km} --min-common-steps {params.min_common_steps}"
        " --min-iou {params.min_iou} --min-area-km2 {params.min_area_km2} --out {output.json} --no-progress"
        " > {log} 2>&1"


rule animate:
    """GIF of IVT or TMQ with the heuristic labels and the network's masks over the first time steps."""
    input:
        raw=animation_inputs,
        heuristic=animation_masks("heuristic"),
        network=animation_masks("network"),
        land=climatology_outputs("heuristic")["climatology"],
    output:
        gif=report(str(FIGURES / "animation.gif"), caption="../report/animation.rst", category="Heuristic vs network"),
    params:
        launcher=serial_launcher(),
        heuristic=str(LABEL_MASKS),
        network=str(MASKS),
        field=config["report"]["animation"]["field"],
        max_frames=config["report"]["animation"]["max_frames"],
        seconds_per_frame=config["report"]["animation"]["seconds_per_frame"],
    log:
        str(LOGS / "animate.log"),
    benchmark:
        str(BENCHMARKS / "animate.tsv")
    conda:
        "../../envs/events.yaml"
    resources:
        runtime=config["report"]["runtime"],
    shell:
        "{params.launcher} climseg animate {input.raw} --heuristic {params.heuristic} --network {params.network}"
        " --land {input.land} --out {output.gif} --field {params.field} --max-frames {params.max_frames}"
        " --seconds-per-frame {params.seconds_per_frame} > {log} 2>&1"


rule climatology_partial:
    """Partial sums of one mask file (climseg climatology --partial): counts per cell, TC candidates, AR records.

    One job per input file and mask set, independent: a cluster computes a century in parallel; rule climatology
    merges them exactly (tracks crossing a file boundary are joined).
    """
    input:
        masks=source_mask,
    output:
        partial=str(EVENTS / "{source}" / "partial" / "{file}.nc"),
    params:
        launcher=serial_launcher(),
        options=tracking_options(),
    group:
        "climatology"  # batch systems: many files per batch job (group-components in the profiles)
    log:
        str(LOGS / "climatology_partial" / "{source}" / "{file}.log"),
    benchmark:
        str(BENCHMARKS / "climatology_partial" / "{source}" / "{file}.tsv")
    conda:
        "../../envs/events.yaml"
    resources:
        runtime=config["report"]["runtime"],
    shell:
        "{params.launcher} climseg climatology {input.masks} --partial {output.partial} {params.options}"
        " --no-progress > {log} 2>&1"


rule climatology:
    """Statistics of one mask set from its partial sums (climseg climatology --merge): AR frequency, TC track and
    genesis densities, yearly and monthly counts, landfall, the TC tracks (TempestExtremes csv) and AR objects."""
    input:
        partials=partial_sums,
    output:
        **{key: report(path, caption="../report/climatology.rst", category="Climatology",
                       subcategory="{source}") if key in ("yearly", "track_table") else path
           for key, path in climatology_outputs("{source}").items()},
    params:
        launcher=serial_launcher(),
        out=lambda wildcards, output: str(Path(output.climatology).parent),
    log:
        str(LOGS / "climatology" / "{source}.log"),
    benchmark:
        str(BENCHMARKS / "climatology" / "{source}.tsv")
    conda:
        "../../envs/events.yaml"
    resources:
        runtime=config["report"]["runtime"],
    shell:
        "{params.launcher} climseg climatology --merge {input.partials} --out {params.out} --no-progress > {log} 2>&1"


rule figures:
    """Maps side by side (AR frequency, TC track density, with their difference), TC track maps over coastlines,
    events per year, and the side-by-side yearly table of the heuristic and network climatologies."""
    input:
        heuristic=climatology_outputs("heuristic")["climatology"],
        network=climatology_outputs("network")["climatology"],
        tables=[climatology_outputs(s)[k] for s in SOURCES for k in ("yearly", "tracks")],
    output:
        ar_frequency=report(str(FIGURES / "ar_frequency.png"), caption="../report/ar_frequency.rst", category="Maps"),
        track_density=report(str(FIGURES / "tc_track_density.png"), caption="../report/tc_track_density.rst",
                             category="Maps"),
        tracks=report(str(FIGURES / "tc_tracks.png"), caption="../report/tc_tracks.rst", category="Maps"),
        yearly=report(str(FIGURES / "yearly_counts.png"), caption="../report/yearly_counts.rst",
                      category="Time series"),
        table=report(str(FIGURES / "climatology_side_by_side.csv"), caption="../report/side_by_side.rst",
                     category="Heuristic vs network"),
    params:
        launcher=serial_launcher(),
        heuristic=lambda wildcards, input: str(Path(input.heuristic).parent),
        network=lambda wildcards, input: str(Path(input.network).parent),
        out=lambda wildcards, output: str(Path(output.table).parent),
    log:
        str(LOGS / "figures.log"),
    benchmark:
        str(BENCHMARKS / "figures.tsv")
    conda:
        "../../envs/events.yaml"
    resources:
        runtime=config["report"]["runtime"],
    shell:
        "{params.launcher} climseg figures --heuristic {params.heuristic} --network {params.network}"
        " --out {params.out} > {log} 2>&1"
