"""Model registry: immutable numbered versions with checksummed manifests, aliases, a promotion gate, run records.

- `registry`: `Registry` (register a saved model folder or a model, aliases, promotion, rollback, gc).
- `manifest`: what a version is made of (checksums) and `ModelVersion`; `files`: durable JSON writes.
- `gate`: the promotion gate's rule and `PromotionDecision`.
- `run_record`: the typed `TrainingRun` record (schema version, upgrade of older records); `runs`: `RunStore`.
"""

from recsys.registry.gate import PromotionDecision
from recsys.registry.manifest import ModelVersion, validate_name, validate_version
from recsys.registry.registry import PRODUCTION, Registry
from recsys.registry.run_record import ModelEntry, Sample, TrainingRun
from recsys.registry.runs import RunStore, new_run_id

__all__ = ["PRODUCTION", "ModelEntry", "ModelVersion", "PromotionDecision", "Registry", "RunStore", "Sample",
           "TrainingRun", "new_run_id", "validate_name", "validate_version"]
