"""Offline evaluation: pure ranking metrics (`metrics`) and full-ranking evaluation of any model (`evaluate`)."""

from recsys.evaluation.evaluate import DEFAULT_KS, EvaluationResult, bootstrap_intervals, evaluate, recommend_all

__all__ = ["DEFAULT_KS", "EvaluationResult", "bootstrap_intervals", "evaluate", "recommend_all"]
