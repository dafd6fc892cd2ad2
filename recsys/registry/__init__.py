"""Model registry: immutable numbered versions with checksummed manifests, aliases, a promotion gate, run records."""

from recsys.registry.manifest import validate_name, validate_version
from recsys.registry.registry import PRODUCTION, ModelVersion, PromotionDecision, Registry

__all__ = ["PRODUCTION", "ModelVersion", "PromotionDecision", "Registry", "validate_name", "validate_version"]
