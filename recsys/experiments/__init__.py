"""Online experiments: definitions stored with the registry, deterministic assignment, team-draft interleaving,
attribution of events to impressions, and the statistics and report of an experiment."""

from recsys.experiments.assignment import assign, bucket
from recsys.experiments.definitions import Arm, Experiment, ExperimentStore
from recsys.experiments.interleaving import preference, team_draft

__all__ = ["Arm", "Experiment", "ExperimentStore", "assign", "bucket", "preference", "team_draft"]
