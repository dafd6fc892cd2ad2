"""Training: split the lake, fit and evaluate each model, register the versions, record the run.

- `steps`: the disk-to-disk steps the DAG calls (`prepare_split`, `train_model`); each returns a path.
- `fitting`: the fit / refit / early-stopping protocol (which data each model fits on).
- `samples`: the few test users a report shows.
- `register`: `register_models` (versions + run record) and `promote_run` (the gate).
- `run`: `run_training`, the three steps composed (what ``recsys train`` calls).

Parameter resolution lives next to the models (`recsys.models.params`). Progress is reported through a
``progress(stage, done, total)`` callback; the CLI renders it.
"""

from recsys.models.params import model_params
from recsys.training.fitting import fit_model, refit_model
from recsys.training.register import promote_run, register_models
from recsys.training.run import production_artifact, run_training, with_catalog
from recsys.training.steps import ARTIFACT_DIR, EVALUATION_FILE, Progress, prepare_split, read_evaluation, train_model

__all__ = [
    "ARTIFACT_DIR", "EVALUATION_FILE", "Progress", "fit_model", "model_params", "prepare_split",
    "production_artifact", "promote_run", "read_evaluation", "refit_model", "register_models", "run_training",
    "train_model", "with_catalog",
]
