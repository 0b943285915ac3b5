# Training (one model per variant) and inference on val and test.


rule train:
    input:
        unpack(shard_inputs("train", "val")),
        unpack(init_models),
        train_labels=L.labels("train"),
        val_labels=L.labels("val"),
        past_end_manifests=past_end_manifests("train", "val"),
    output:
        model=L.model("{variant}"),
        history=L.history("{variant}"),
        tensorboard=directory(L.tensorboard("{variant}")),
    log:
        L.log("train", "{variant}"),
    benchmark:
        L.benchmark("train", "{variant}")
    # never a pretrained: variant (rule import_pretrained makes its model file)
    wildcard_constraints:
        variant="|".join(map(re.escape, TRAINED)) or "(?!)",
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=retried(train_resource("mem_mb")),
        runtime=retried(train_resource("runtime")),
        gpu=1,
    params:
        code=model_code("train"),
        settings=variant_settings,
        targets=config["targets"],
        target_range=config["target_range"],
        scoring=TRAIN_SCORING,
        past_end=PAST_END,
        weights_holdout=config["validation"]["weights_holdout"],
        state=lambda wc: L.train_state(wc.variant),
    script:
        "../workflow_scripts/train.py"


# pretrained: PATH: the checkpoint, checked against the variant and the config, as the variant's
# model file, with a history saying it was imported (eevflow/pretrained.py); the file is the
# input, so a changed checkpoint is imported and predicted again.
rule import_pretrained:
    input:
        checkpoint=lambda wc: config["variants"][wc.variant]["pretrained"],
    output:
        model=L.model("{variant}"),
        history=L.history("{variant}"),
    log:
        L.log("import_pretrained", "{variant}"),
    wildcard_constraints:
        variant="|".join(map(re.escape, PRETRAINED)) or "(?!)",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=retried(4000),
        runtime=retried(15),
    params:
        code=pretrained_code,
        settings=variant_settings,
        extractors=variant_extractors,
        targets=config["targets"],
        target_range=config["target_range"],
    script:
        "../workflow_scripts/import_pretrained.py"


rule predict:
    input:
        unpack(shard_inputs()),
        model=L.model("{variant}"),
        labels=L.labels("{pred_split}"),
    output:
        L.predictions("{variant}", "{pred_split}"),
    log:
        L.log("predict", "{variant}", "{pred_split}"),
    benchmark:
        L.benchmark("predict", "{variant}", "{pred_split}")
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=retried(predict_resource("mem_mb")),
        runtime=retried(predict_resource("runtime")),
        gpu=1,
    params:
        code=model_code("predict"),
        features=lambda wc: TRAINABLE[wc.variant]["features"],
        targets=config["targets"],
    script:
        "../workflow_scripts/predict.py"


# A swept variant: the point with the best validation M_rho, its val and test predictions under
# the variant's name (only the kept point is predicted), and the sweep's table.
rule select_sweep:
    input:
        unpack(sweep_inputs),
    output:
        val=L.predictions("{sweep}", "val"),
        test=L.predictions("{sweep}", "test"),
        table=L.sweep_table("{sweep}"),
    log:
        L.log("select_sweep", "{sweep}"),
    benchmark:
        L.benchmark("select_sweep", "{sweep}")
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=retried(predict_resource("mem_mb", sweep=True)),
        runtime=retried(predict_resource("runtime", sweep=True)),
        gpu=1,
    params:
        code=sweep_code,
        points=lambda wc: SWEEPS[wc.sweep],
        features=lambda wc: TRAINABLE[next(iter(SWEEPS[wc.sweep]))]["features"],
        targets=config["targets"],
    script:
        "../workflow_scripts/select_sweep.py"
