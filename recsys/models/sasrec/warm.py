"""SASRec's warm start: the transformer and the embeddings of known items from an earlier version."""

from __future__ import annotations

import logging

import torch

from recsys.data import IdMap
from recsys.models.sasrec.network import SASRecNet
from recsys.models.warm import carry_rows

logger = logging.getLogger(__name__)

ITEM_EMBEDDING = "item_emb.weight"


@torch.no_grad()
def load_warm(net: SASRecNet, previous: SASRecNet, items: IdMap, previous_items: IdMap) -> bool:
    """Copy `previous`'s weights into the freshly initialised `net`: every tensor as it is, except the item
    embeddings, whose rows follow the items (new items keep their fresh rows; row 0 is padding). False, and `net`
    untouched, when the architectures differ (other hidden size, layers, heads or max_len)."""
    old, new = previous.state_dict(), net.state_dict()
    mismatched = [k for k in new if k != ITEM_EMBEDDING and (k not in old or old[k].shape != new[k].shape)]
    if mismatched or set(old) != set(new) or old[ITEM_EMBEDDING].shape[1] != new[ITEM_EMBEDDING].shape[1]:
        logger.warning("SASRec: cannot warm start from a model of another architecture (%s); training cold",
                       ", ".join(mismatched[:3]) or "embedding size")
        return False
    fresh = new[ITEM_EMBEDDING].detach().cpu().numpy()
    rows, carried = carry_rows(items, previous_items, old[ITEM_EMBEDDING][1:].detach().float().cpu().numpy(),
                               fresh[1:])
    state = {k: v.clone() for k, v in old.items() if k != ITEM_EMBEDDING}
    state[ITEM_EMBEDDING] = torch.cat([new[ITEM_EMBEDDING][:1].cpu(), torch.from_numpy(rows)])
    net.load_state_dict(state)
    logger.info("SASRec warm start: %d of %d items keep their embeddings, %d start fresh", carried, len(items),
                len(items) - carried)
    return True
