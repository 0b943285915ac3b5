# New videos without labels (config `predict:`), predicted by every scored model or the ones named:
#   snakemake predict_videos --config 'predict={videos: my_videos}'
# One job per (model, video): adding a video or a model runs only its jobs.


rule predict_videos:
    input:
        predict_videos_inputs,


rule predict_video:
    input:
        video=lambda wc: NEW_VIDEOS[wc.video],
        models=model_inputs,
        subtitles=new_video_subtitles,
    output:
        csv=L.new_video("{model}", "{video}", "csv"),
        png=L.new_video("{model}", "{video}", "png"),
    log:
        L.log("predict_video", "{model}", "{video}"),
    benchmark:
        L.benchmark("predict_video", "{model}", "{video}")
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=retried(6000),
        runtime=retried(30),
        gpu=1,
    params:
        code=code("predict_video"),
        model=lambda wc: model_file(wc.model),
        thumbnails=config["predict"]["thumbnails"],
    script:
        "../workflow_scripts/predict_video.py"
