# The figures and pages of `snakemake --report report.html` (captions under report/). They are in
# all_targets(), so `snakemake` makes them and the report finds them after any finished run. Their
# input function and the curves' split are in rules/common.smk.


rule report_figures:
    input:
        scores=L.scores("csv"),
        histories=expand(L.history("{variant}"), variant=VARIANTS),
    output:
        pearson=report(
            L.report_file("pearson.png"),
            caption="../report/pearson.rst",
            category="1. Scores",
            subcategory="Per expression",
        ),
        training=report(
            L.report_file("training.png"),
            caption="../report/training.rst",
            category="2. Training",
        ),
    log:
        L.log("report_figures"),
    conda:
        ENV
    resources:
        mem_mb=retried(2000),
        runtime=retried(10),
    params:
        code=code("report_figures"),
        variants=VARIANTS,
    script:
        "../workflow_scripts/report_figures.py"


rule report_curves:
    input:
        unpack(curve_inputs),
        scores=L.scores("csv"),
    output:
        report(
            directory(L.report_file("curves")),
            patterns=["{video}.png"],
            caption="../report/curves.rst",
            category="3. Predictions",
        ),
    log:
        L.log("report_curves"),
    conda:
        ENV
    resources:
        mem_mb=retried(4000),
        runtime=retried(10),
    params:
        code=code("report_curves"),
        split=CURVE_SPLIT,
        n_videos=config["report"]["curve_videos"],
        thumbnails=config["report"]["thumbnails"],
        targets=config["targets"],
    script:
        "../workflow_scripts/report_curves.py"


rule report_pages:
    input:
        scores=L.scores("md"),
        dataset=L.dataset_report("md"),
    output:
        scores=report(
            L.report_file("scores.html"),
            caption="../report/scores.rst",
            category="1. Scores",
            subcategory="Tables",
        ),
        dataset=report(
            L.report_file("dataset.html"),
            caption="../report/dataset.rst",
            category="4. Data",
        ),
        config_yaml=report(
            L.report_file("config.yaml"),
            caption="../report/config.rst",
            category="5. Configuration",
        ),
        config_html=report(
            L.report_file("config.html"),
            caption="../report/config.rst",
            category="5. Configuration",
        ),
    log:
        L.log("report_pages"),
    conda:
        ENV
    resources:
        mem_mb=retried(1000),
        runtime=retried(5),
    params:
        code=code("report_pages"),
        # the run's validated config (defaults filled in) is this rule's output itself: its text
        # is the param, so a changed config rewrites the page (a function: the text may hold
        # braces, e.g. download URL templates, that are no wildcards)
        config_yaml=lambda wildcards: CONFIG_YAML,
    script:
        "../workflow_scripts/report_pages.py"
