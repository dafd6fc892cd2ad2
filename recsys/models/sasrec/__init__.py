"""SASRec: a causal self-attention model over each user's recent items (Kang & McAuley 2018).

- `config`: `SASRecConfig`, the typed, validated hyper-parameters.
- `network`: the transformer (nanoGPT-sized, shape comments) and the windows it reads.
- `trainer`: the epoch loop, loss, early stopping on validation NDCG@10 (`recsys.evaluation.metrics`), time budget.
- `model`: `SASRec`, the `Recommender` that ties them together (fit, score, save/load).
"""

from recsys.models.sasrec.config import SASRecConfig
from recsys.models.sasrec.model import SASRec

__all__ = ["SASRec", "SASRecConfig"]
