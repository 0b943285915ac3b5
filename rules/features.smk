# Embedding extraction: one Parquet shard per (extractor, split, shard).


rule extract:
    input:
        unpack(extract_inputs),
    output:
        L.features("{extractor}", "{split}", "{shard}"),
    log:
        L.log("extract", "{extractor}", "{split}", shard="{shard}"),
    benchmark:
        L.benchmark("extract", "{extractor}", "{split}", shard="{shard}")
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=retried(extract_resource("mem_mb")),
        runtime=retried(extract_resource("runtime")),
        gpu=extract_gpu,
    params:
        code=extract_code,
        extractor=lambda wc: config["extractors"][wc.extractor],
        store=config["decode"]["store"],
    script:
        "../workflow_scripts/extract.py"


# The clip stream (eevflow/clips.py): every frame on the clips.fps grid over each video of the
# shard, decoded once; read only by extractors whose backend reads clips (extract_inputs).
rule decode_clips:
    input:
        videos=decode_inputs,
    output:
        directory(L.clips("{split}", "{shard}")),
    log:
        L.log("decode_clips", "{split}", shard="{shard}"),
    benchmark:
        L.benchmark("decode_clips", "{split}", shard="{shard}")
    conda:
        ENV
    threads: config["clips"]["threads"]
    resources:
        mem_mb=retried(decode_resource("mem_mb")),
        runtime=retried(decode_resource("runtime")),
    params:
        code=code("decode_clips"),
        videos=decode_videos,
        durations=clip_durations,
        clips=config["clips"],
        decode={
            k: config["decode"][k]
            for k in ("backend", "chunk_frames", "jpeg_quality", "jpeg_subsampling")
        },
    script:
        "../workflow_scripts/decode_clips.py"
