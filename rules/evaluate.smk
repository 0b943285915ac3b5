# Ensembles, scores and the EEV-layout submission files.


rule ensemble:
    input:
        unpack(ensemble_inputs),
        val_labels=L.labels("val"),
        past_end_manifests=past_end_manifests("val"),
    output:
        val=L.predictions("{ensemble}", "val"),
        test=L.predictions("{ensemble}", "test"),
        weights=L.weights("{ensemble}"),
    log:
        L.log("ensemble", "{ensemble}"),
    conda:
        ENV
    resources:
        mem_mb=retried(4000),
        runtime=retried(30),
    params:
        code=code("ensemble"),
        spec=lambda wc: config["ensembles"][wc.ensemble],
        targets=config["targets"],
        scoring=config["scoring"],
        past_end=PAST_END,
        weights_holdout=config["validation"]["weights_holdout"],
    script:
        "../workflow_scripts/ensemble.py"


rule score:
    input:
        unpack(score_inputs),
        histories=expand(L.history("{variant}"), variant=PLAIN),
    output:
        csv=report(
            L.scores("csv"),
            caption="../report/scores_csv.rst",
            category="1. Scores",
            subcategory="Tables",
        ),
        md=L.scores("md"),
        unscorable=L.unscorable(),
    log:
        L.log("score"),
    conda:
        ENV
    resources:
        mem_mb=retried(8000),
        runtime=retried(30),
    params:
        code=code("score"),
        models=all_models(),
        variants={
            v: eevconfig.variant_settings(config, v, REPORTED) for v in PLAIN + SWEPT
        },
        ensembles=config["ensembles"],
        paper_tables=config["paper_tables"],
        sweeps=SWEPT,
        splits=score_splits(),
        manifest_splits=SPLITS,
        targets=config["targets"],
        scoring=config["scoring"],
        past_end=PAST_END,
    script:
        "../workflow_scripts/score.py"


# submission.fill: mean_curve: the training set's mean label at each 6 Hz row (eevflow.label_prior)
rule label_curve:
    input:
        L.labels("train"),
    output:
        L.label_curve(),
    log:
        L.log("label_curve"),
    conda:
        ENV
    resources:
        mem_mb=retried(4000),
        runtime=retried(20),
    params:
        code=code("label_curve"),
        targets=config["targets"],
        min_videos=config["submission"]["curve_min_videos"],
    script:
        "../workflow_scripts/label_curve.py"


rule submission:
    input:
        predictions=L.predictions("{model}", "test"),
        test=config["data"]["labels"]["test"],
        manifest=L.manifest("test"),
        curve=(L.label_curve() if config["submission"]["fill"] == "mean_curve" else []),
    output:
        csv=L.submission("{model}"),
        report=L.fill_report("{model}"),
    log:
        L.log("submission", "{model}"),
    conda:
        ENV
    resources:
        mem_mb=retried(4000),
        runtime=retried(20),
    params:
        code=code("submission"),
        targets=config["targets"],
        target_range=config["target_range"],
        fill=config["submission"]["fill"],
    script:
        "../workflow_scripts/submission.py"
