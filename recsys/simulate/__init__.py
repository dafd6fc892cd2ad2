"""Simulated users for online evaluation: the generator's ground truth and users who act on it."""

from recsys.simulate.truth import TRUTH_FILE, Truth, load_truth, write_truth

__all__ = ["TRUTH_FILE", "Truth", "load_truth", "write_truth"]
