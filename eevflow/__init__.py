"""eevflow: predict the facial expressions a video evokes (EEV 2021), as a Snakemake workflow."""

__version__ = "0.1.0"
