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
