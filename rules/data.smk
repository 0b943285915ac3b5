# Dataset stages: demo generation, label parsing, download-check (probe), decode.


if DEMO:

    rule demo_data:
        output:
            videos=[video_path(v) for s in SPLITS for v in listed_ids(s)],
            train=config["data"]["labels"]["train"],
            val=config["data"]["labels"]["val"],
            test=config["data"]["labels"]["test"],
            truth=config["data"]["test_ground_truth"],
        params:
            demo=config["demo"],
            videos_dir=config["data"]["videos_dir"],
        log:
            f"{R}/logs/demo_data.log",
        benchmark:
            f"{R}/benchmarks/demo_data.tsv"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=30,
        conda:
            ENV
        script:
            "../workflow_scripts/demo_data.py"


rule labels:
    input:
        csv=lambda wc: config["data"]["labels"][wc.split],
    output:
        f"{R}/labels/{{split}}.parquet",
    params:
        targets=config["targets"],
        require_scores=lambda wc: wc.split != "test",
    log:
        f"{R}/logs/labels/{{split}}.log",
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        ENV
    script:
        "../workflow_scripts/labels.py"


rule test_ground_truth:
    input:
        csv=config["data"]["test_ground_truth"] or [],
    output:
        f"{R}/labels/test_truth.parquet",
    params:
        targets=config["targets"],
        require_scores=True,
    log:
        f"{R}/logs/labels/test_truth.log",
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        ENV
    script:
        "../workflow_scripts/labels.py"


checkpoint download_check:
    input:
        labels=f"{R}/labels/{{split}}.parquet",
        videos=download_check_videos,
    output:
        manifest=f"{R}/manifest/{{split}}.parquet",
    params:
        videos_dir=config["data"]["videos_dir"],
        sample_rate=config["decode"]["audio_sample_rate"],
    log:
        f"{R}/logs/download_check/{{split}}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        ENV
    script:
        "../workflow_scripts/download_check.py"


rule decode:
    input:
        video=lambda wc: video_path(wc.video),
        labels=f"{R}/labels/{{split}}.parquet",
    output:
        frames=f"{R}/decoded/{{split}}/{{video}}/frames.npy",
        audio=f"{R}/decoded/{{split}}/{{video}}/audio.npy",
        meta=f"{R}/decoded/{{split}}/{{video}}/meta.json",
    params:
        decode=config["decode"],
    log:
        f"{R}/logs/decode/{{split}}/{{video}}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        ENV
    script:
        "../workflow_scripts/decode.py"
