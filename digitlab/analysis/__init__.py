"""Understanding a trained model: figures (each a matplotlib Figure), robustness, the HTML report."""

from digitlab.analysis.plots import (
    plot_confusion,
    plot_curves,
    plot_feature_maps,
    plot_kernels,
    plot_misclassified,
    plot_robustness,
    plot_saliency,
    plot_shift_feature_maps,
    plot_tsne,
)
from digitlab.analysis.robustness import RobustnessStudy, run_study
from digitlab.inference.inspector import Inspector

__all__ = ["Inspector", "RobustnessStudy", "plot_confusion", "plot_curves", "plot_feature_maps", "plot_kernels",
           "plot_misclassified", "plot_robustness", "plot_saliency", "plot_shift_feature_maps", "plot_tsne",
           "run_study"]
