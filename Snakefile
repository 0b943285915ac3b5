# eevflow: predict the facial expressions a video evokes (EEV 2021), reproducing the challenge
# winner (TCN + positional encoding over pre-trained embeddings) and its peers as variants.
#
#   snakemake --cores N                       # the built-in demo (config.yaml)
#   snakemake --configfile my.yaml --cores N  # your data

from snakemake.utils import min_version

min_version("9.0")


# config.yaml (the demo) is the default; a --configfile replaces it instead of being merged into
# it, so a user's config never inherits the demo's variants or extractors.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


# `snakemake --report report.html`: the figures and pages of rules/report.smk, captions in report/
report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/features.smk"
include: "rules/model.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"
include: "rules/new_videos.smk"


rule all:
    default_target: True
    input:
        all_targets(),
