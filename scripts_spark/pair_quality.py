"""Precision, recall and F1 of predicted pairs against true pairs: the one definition that step 04's
run metrics and `make bench` both use."""
from __future__ import annotations


def quality_figures(true_positives: int, predicted_pairs: int, true_pairs: int) -> dict:
    """Counts and the three ratios (rounded to 4 places); 0.0 where a denominator is 0."""
    precision = true_positives / predicted_pairs if predicted_pairs else 0.0
    recall = true_positives / true_pairs if true_pairs else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"true_pairs": true_pairs, "predicted_pairs": predicted_pairs, "true_positives": true_positives,
            "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}
