"""The training-run record: what one run of training trained, measured, registered and decided, typed.

Training writes it (`recsys.training.register`), the report and the service read it (through `RunStore`). On disk
it is JSON with a ``schema`` number. Records written before the schema number existed (schema 1: the same fields,
untyped) are read through `upgrade`, the one place that knows older shapes; anything else is refused with an
`ArtifactError` saying so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from recsys.errors import ArtifactError
from recsys.registry.gate import PromotionDecision

SCHEMA_VERSION = 2


@dataclass(frozen=True)
class Segment:
    """A model's metrics on one group of test users (``group`` = ``value``, e.g. cold = true)."""

    metrics: dict[str, float]
    n_users: int
    group: str
    value: str
    intervals: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Popularity:
    """Per popularity bin of the catalogue (most popular first): its share of items, of training interactions,
    and of a model's top-k slots."""

    bins: list[str]
    catalog_items: list[float]
    catalog_interactions: list[float]
    recommendations: list[float]


@dataclass(frozen=True)
class Sample:
    """One test user as the report shows them: recent history, targets, and each model's top-10."""

    user_id: str
    segment: str | None
    history: list[str]
    targets: list[str]
    recommendations: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class ModelEntry:
    """One model of the run: the version it was registered as, and everything its evaluation measured."""

    version: int
    params: dict[str, Any]
    metrics: dict[str, float]
    train_seconds: float
    ci: dict[str, list[float]] = field(default_factory=dict)
    eval_seconds: float | None = None
    epochs: dict[str, float] = field(default_factory=dict)
    device: str | None = None
    protocol: str | None = None
    n_users: int | None = None
    segments: dict[str, Segment] = field(default_factory=dict)
    popularity: Popularity | None = None
    promoted: bool | None = None
    gate: PromotionDecision | None = None
    paired: dict[str, Any] | None = None
    """Paired comparison with the version holding `production` at registration, on this run's test users."""


@dataclass
class TrainingRun:
    """A whole run: its split and data, the gate's settings, each model's entry and the sample users."""

    run_id: str
    models: dict[str, ModelEntry]
    split: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    metric: str = "ndcg@10"
    tolerance: float = 0.0
    promote: bool = False
    samples: list[Sample] = field(default_factory=list)
    recorded: str | None = None
    schema: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TrainingRun:
        """A record as `to_dict` wrote it, or an older one through `upgrade`; ArtifactError when unsupported."""
        raw = upgrade(raw)
        try:
            models = {str(name): _entry(entry) for name, entry in raw["models"].items()}
            samples = [Sample(**s) for s in raw.get("samples") or []]
            known = {k: raw[k] for k in ("split", "data", "metric", "tolerance", "promote", "recorded") if k in raw}
            return cls(run_id=str(raw["run_id"]), models=models, samples=samples, **known)
        except (KeyError, TypeError, AttributeError) as err:
            raise ArtifactError(f"run record {raw.get('run_id')!r} is malformed ({type(err).__name__}: {err}); "
                                f"schema {SCHEMA_VERSION} expected") from err


def _entry(raw: Mapping[str, Any]) -> ModelEntry:
    fields = dict(raw)
    fields["segments"] = {str(k): Segment(**v) for k, v in (fields.get("segments") or {}).items()}
    fields["popularity"] = Popularity(**fields["popularity"]) if fields.get("popularity") else None
    fields["gate"] = PromotionDecision(**fields["gate"]) if fields.get("gate") else None
    return ModelEntry(**fields)


def upgrade(raw: Mapping[str, Any]) -> dict[str, Any]:
    """`raw` in the current schema. Schema 1 (no ``schema`` key; written by the pipeline before the record was
    typed) has the same fields, but an evaluation without a popularity distribution stored ``{}`` and runs
    without samples had none: those become None and []. Other shapes raise ArtifactError."""
    schema = raw.get("schema", 1)
    if schema == SCHEMA_VERSION:
        return dict(raw)
    run_id = raw.get("run_id")
    if schema != 1 or not isinstance(raw.get("models"), Mapping) or not run_id:
        raise ArtifactError(f"run record {run_id!r} has schema {schema!r} and a shape this version cannot read "
                            f"(supported: 1 and {SCHEMA_VERSION}); re-run training to record it again")
    models = {}
    for name, entry in raw["models"].items():
        if not isinstance(entry, Mapping) or "metrics" not in entry or "version" not in entry:
            raise ArtifactError(f"run record {run_id!r}: model {name!r} has no version or metrics; "
                                "this record cannot be read (re-run training)")
        models[name] = {**entry, "popularity": entry.get("popularity") or None}
    return {**raw, "models": models, "samples": list(raw.get("samples") or []), "schema": SCHEMA_VERSION}
