# Dataset stages: demo generation, label parsing, download-check (probe), decode.


if DEMO:

    rule demo_data:
        output:
            **demo_oracle_output(),
            videos=[video_path(v) for s in SPLITS for v in listed_ids(s)],
            train=config["data"]["labels"]["train"],
            val=config["data"]["labels"]["val"],
            test=config["data"]["labels"]["test"],
            truth=config["data"]["test_ground_truth"],
        log:
            L.log("demo_data"),
        benchmark:
            L.benchmark("demo_data")
        conda:
            ENV
        threads: 2
        resources:
            mem_mb=retried(2000),
            runtime=retried(30),
        params:
            code=code("demo_data"),
            demo=config["demo"],
            videos_dir=lambda wc, output: os.path.dirname(output.videos[0]),
        script:
            "../workflow_scripts/demo_data.py"


rule labels:
    input:
        csv=lambda wc: config["data"]["labels"][wc.split],
    output:
        L.labels("{split}"),
    log:
        L.log("labels", "{split}"),
    conda:
        ENV
    resources:
        mem_mb=retried(4000),
        runtime=retried(20),
    params:
        code=code("labels"),
        targets=config["targets"],
        target_range=config["target_range"],
        require_scores=lambda wc: wc.split != "test",
    script:
        "../workflow_scripts/labels.py"


rule test_ground_truth:
    input:
        csv=config["data"]["test_ground_truth"] or [],
    output:
        L.test_truth(),
    log:
        L.log("labels", "test_truth"),
    conda:
        ENV
    resources:
        mem_mb=retried(4000),
        runtime=retried(20),
    params:
        code=code("labels"),
        targets=config["targets"],
        target_range=config["target_range"],
        require_scores=True,
    script:
        "../workflow_scripts/labels.py"


if HAS_ORACLE:

    rule test_oracle:
        input:
            csv=config["data"]["test_oracle"],
        output:
            L.test_oracle(),
        log:
            L.log("labels", "test_oracle"),
        conda:
            ENV
        resources:
            mem_mb=retried(4000),
            runtime=retried(20),
        params:
            code=code("labels"),
            targets=config["targets"],
            target_range=config["target_range"],
            require_scores=True,
        script:
            "../workflow_scripts/labels.py"


# One job per (split, shard), the shards of decode: a decode job waits for its own shard's check
# only, and a split's 3,061 videos are checked by n_shards jobs side by side.
checkpoint download_check:
    input:
        labels=L.labels("{split}"),
        videos=download_check_videos,
        video_list=VIDEO_LIST or [],
    output:
        manifest=L.manifest_shard("{split}", "{shard}"),
    log:
        L.log("download_check", "{split}", shard="{shard}"),
    benchmark:
        L.benchmark("download_check", "{split}", shard="{shard}")
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=retried(download_check_resource("mem_mb")),
        runtime=retried(download_check_resource("runtime")),
    params:
        code=code("download_check"),
        shard=lambda wc: int(wc.shard),
        n_shards=N_SHARDS,
        videos_dir=config["data"]["videos_dir"],
        extensions=config["data"]["video_extensions"],
        probe=config["probe"],
        decode={k: config["decode"][k] for k in ("audio_sample_rate", "backend")},
        download=config["download"],
    script:
        "../workflow_scripts/download_check.py"


# The split's manifest (every label-file video, in label-file order) from its shards' manifests:
# what dataset_report, past-end handling and scoring read.
rule merge_manifest:
    input:
        labels=L.labels("{split}"),
        shards=expand(L.manifest_shard("{{split}}", "{shard}"), shard=SHARDS),
    output:
        manifest=L.manifest("{split}"),
    log:
        L.log("merge_manifest", "{split}"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=retried(2000),
        runtime=retried(10),
    params:
        code=code("merge_manifest"),
    script:
        "../workflow_scripts/merge_manifest.py"


rule dataset_report:
    input:
        **manifest_inputs(),
        video_list=VIDEO_LIST or [],
    output:
        json=L.dataset_report("json"),
        md=report(
            L.dataset_report("md"),
            caption="../report/dataset.rst",
            category="4. Data",
        ),
    log:
        L.log("dataset_report"),
    conda:
        ENV
    resources:
        mem_mb=retried(2000),
        runtime=retried(10),
    params:
        code=code("dataset_report"),
        splits=SPLITS,
        videos_dir=config["data"]["videos_dir"],
        extensions=config["data"]["video_extensions"],
        probe=config["probe"],
        decode={k: config["decode"][k] for k in ("audio_sample_rate", "backend")},
    script:
        "../workflow_scripts/dataset_report.py"


# One job per (split, shard), the shard of the embedding files: one job per video would flood a
# cluster's scheduler with thousands of sub-minute jobs (README: "Running on a SLURM cluster").
rule decode:
    input:
        videos=decode_inputs,
        labels=L.labels("{split}"),
    output:
        directory(L.decoded("{split}", "{shard}")),
    log:
        L.log("decode", "{split}", shard="{shard}"),
    benchmark:
        L.benchmark("decode", "{split}", shard="{shard}")
    conda:
        ENV
    threads: config["decode"]["threads"]
    resources:
        mem_mb=retried(decode_resource("mem_mb")),
        runtime=retried(decode_resource("runtime")),
    params:
        code=code("decode"),
        videos=decode_videos,
        decode=config["decode"],
    script:
        "../workflow_scripts/decode.py"
