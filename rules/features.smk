# Embedding extraction: one Parquet shard per (extractor, split, shard).


rule extract:
    input:
        decoded=lambda wc: decoded_shard(wc.split, wc.shard),
    output:
        f"{R}/features/{{extractor}}/{{split}}/shard-{{shard}}.parquet",
    log:
        f"{R}/logs/extract/{{extractor}}/{{split}}/shard-{{shard}}.log",
    benchmark:
        f"{R}/benchmarks/extract/{{extractor}}/{{split}}/shard-{{shard}}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=extract_resource("mem_mb"),
        runtime=extract_resource("runtime"),
        gpu=lambda wc: int(config["extractors"][wc.extractor]["backend"] != "logmel"),
    params:
        code=extract_code,
        extractor=lambda wc: config["extractors"][wc.extractor],
    script:
        "../workflow_scripts/extract.py"
