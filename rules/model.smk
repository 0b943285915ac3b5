# Training (one model per variant) and inference on val and test.


rule train:
    input:
        unpack(shard_inputs("train", "val")),
        train_labels=f"{R}/labels/train.parquet",
        val_labels=f"{R}/labels/val.parquet",
        past_end_manifests=past_end_manifests("train", "val"),
    output:
        model=f"{R}/models/{{variant}}/model.pt",
        history=f"{R}/models/{{variant}}/training.json",
    log:
        f"{R}/logs/train/{{variant}}.log",
    benchmark:
        f"{R}/benchmarks/train/{{variant}}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=train_resource("mem_mb"),
        runtime=train_resource("runtime"),
        gpu=1,
    params:
        code=code("train"),
        settings=variant_settings,
        targets=config["targets"],
        constant_policy=config["scoring"]["constant_policy"],
        past_end=PAST_END,
    script:
        "../workflow_scripts/train.py"


rule predict:
    input:
        unpack(shard_inputs()),
        model=f"{R}/models/{{variant}}/model.pt",
        labels=f"{R}/labels/{{pred_split}}.parquet",
    output:
        f"{R}/predictions/{{variant}}/{{pred_split}}.parquet",
    log:
        f"{R}/logs/predict/{{variant}}/{{pred_split}}.log",
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=1,
    params:
        code=code("predict"),
        features=lambda wc: config["variants"][wc.variant]["features"],
        targets=config["targets"],
    script:
        "../workflow_scripts/predict.py"
