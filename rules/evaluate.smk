# Ensembles, scores and the EEV-layout submission files.


rule ensemble:
    input:
        unpack(ensemble_inputs),
        val_labels=f"{R}/labels/val.parquet",
        past_end_manifests=past_end_manifests("val"),
    output:
        val=f"{R}/predictions/{{ensemble}}/val.parquet",
        test=f"{R}/predictions/{{ensemble}}/test.parquet",
        weights=f"{R}/predictions/{{ensemble}}/weights.json",
    log:
        f"{R}/logs/ensemble/{{ensemble}}.log",
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        code=code("ensemble"),
        spec=lambda wc: config["ensembles"][wc.ensemble],
        targets=config["targets"],
        scoring=config["scoring"],
        past_end=PAST_END,
    script:
        "../workflow_scripts/ensemble.py"


rule score:
    input:
        unpack(score_inputs),
        histories=expand(f"{R}/models/{{variant}}/training.json", variant=VARIANTS),
    output:
        csv=f"{R}/scores/scores.csv",
        md=f"{R}/scores/scores.md",
        unscorable=f"{R}/scores/unscorable.json",
    log:
        f"{R}/logs/score.log",
    conda:
        ENV
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        code=code("score"),
        models=all_models(),
        variants={v: eevconfig.variant_settings(config, v) for v in VARIANTS},
        ensembles=config["ensembles"],
        splits=score_splits(),
        manifest_splits=SPLITS,
        targets=config["targets"],
        scoring=config["scoring"],
        past_end=PAST_END,
    script:
        "../workflow_scripts/score.py"


rule submission:
    input:
        predictions=f"{R}/predictions/{{model}}/test.parquet",
        test=config["data"]["labels"]["test"],
        manifest=f"{R}/manifest/test.parquet",
    output:
        csv=f"{R}/submission/{{model}}.csv",
        report=f"{R}/submission/{{model}}.fill.json",
    log:
        f"{R}/logs/submission/{{model}}.log",
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        code=code("submission"),
        targets=config["targets"],
    script:
        "../workflow_scripts/submission.py"
