"""Explanations: attributions beside the learned attention, their faithfulness, and the truth.

:mod:`~core_models.explain.attribution` runs the methods (captum's Integrated Gradients, Saliency,
Occlusion and feature ablation over temporal segments; Grad-CAM) and sums their output into body
parts, frames, segments and pixels; :mod:`~core_models.explain.faithfulness` compares it with the
model's attention, draws deletion / insertion curves, scores it against synthetic ground truth and
writes whole runs into the results store.
"""

from core_models.explain.attribution import (
    METHOD_LABELS,
    METHODS,
    Cost,
    Curves,
    ExplainSettings,
    Explanation,
    contrast_runs,
    estimate_cost,
    explain,
    gradcam_layers,
    importance_order,
    joint_parts,
)
from core_models.explain.faithfulness import (
    agreement,
    deletion_insertion,
    explain_path,
    explain_run,
    read_explain,
    run_clips,
    spearman,
    truth_scores,
)

__all__ = [
    "METHODS", "METHOD_LABELS", "Cost", "Curves", "Explanation", "ExplainSettings", "agreement",
    "contrast_runs",
    "deletion_insertion", "estimate_cost", "explain", "explain_path", "explain_run", "gradcam_layers",
    "importance_order", "joint_parts", "read_explain", "run_clips", "spearman", "truth_scores",
]  # fmt: skip
