"""Evaluation metrics for 3D anomaly detection (Real3D-AD / Anomaly-ShapeNet protocol)."""

from trainer.evaluate.metrics import (
    ClassMetrics,
    au_pro,
    aupr,
    auroc,
    evaluate_class,
    knn_regions,
    mean_metrics,
    mean_rank,
    metric_table,
    object_scores_from_points,
    pro_curve,
    summarize,
)

__all__ = [
    "ClassMetrics",
    "au_pro",
    "aupr",
    "auroc",
    "evaluate_class",
    "knn_regions",
    "mean_metrics",
    "mean_rank",
    "metric_table",
    "object_scores_from_points",
    "pro_curve",
    "summarize",
]
