"""Settings of the scheduled pipeline (the Airflow DAGs): paths, models, schedules and thresholds in one place.

Values come, highest priority first, from explicit overrides (the DAGs pass the JSON of the Airflow Variable
``recsys_settings``), environment variables ``RECSYS_<FIELD>`` (e.g. ``RECSYS_LAKE=/data/lake``,
``RECSYS_MODELS=popularity,als``, ``RECSYS_EPOCHS='{"sasrec": 20}'``), then the defaults below. The DAG *shape*
(schedules, models, queue routing) is read when a DAG file is parsed, so it comes from the environment only;
runtime knobs (paths, thresholds, windows, hyper-parameters, the service) can also be changed with the Variable.

This module stays light (pydantic only): DAG files import it at parse time. It lives with the DAGs, not in the
`recsys` library, because most of it is Airflow's business (schedules, retries, queues, the Variable); the library
functions the tasks call take plain arguments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from recsys.errors import InputError

VARIABLE_NAME = "recsys_settings"
"""Airflow Variable (a JSON object of field -> value) that overrides these settings at task run time."""

LAKE_EVENTS_ASSET_NAME = "recsys_lake_events"
LAKE_EVENTS_ASSET_URI = "x-recsys://lake/events"
"""Logical identity of the lake's events table as an Airflow asset: stable even when the lake path changes."""


def _split_names(value: Any) -> Any:
    """Accept ``"a,b"`` and ``'["a", "b"]'`` for list fields set from the environment."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


Names = Annotated[list[str], NoDecode]


class PipelineSettings(BaseSettings):
    """Everything the DAGs need to know; each task reads its slice and calls one library function."""

    model_config = SettingsConfigDict(env_prefix="RECSYS_", extra="ignore", validate_default=True)

    # --- where things live (relative paths resolve against `home`) ---
    home: Path = Field(Path("recsys_data"), description="Base folder for the paths below that are relative.")
    landing: Path = Field(Path("landing"), description="Raw daily files events-YYYY-MM-DD.jsonl land here.")
    lake: Path = Field(Path("lake"), description="Parquet lake written by ingestion.")
    registry: Path = Field(Path("registry"), description="Model registry.")
    work_dir: Path = Field(Path("work"), description="Splits and trained artifacts before registration.")
    reports_dir: Path = Field(Path("reports"), description="Rendered HTML reports.")
    landing_pattern: str = Field("events-{date}.jsonl", description="Raw file name of one day; {date} = YYYY-MM-DD.")
    items_file: str = Field("items.csv", description="Item catalogue in the landing folder (titles for reports).")

    # --- schedules (cron, UTC) ---
    start_date: date = date(2026, 1, 1)
    catchup: bool = False
    ingest_schedule: str = Field("30 0 * * *", description="Cron of ingestion; each run covers the previous period.")
    train_schedule: str | None = Field("0 3 * * *", description="Nightly training cron; empty = asset-triggered only.")
    train_on_asset: bool = Field(True, description="Also train as soon as ingestion updates the lake.")
    analytics_schedule: str = "0 4 * * *"
    analytics_window_days: int = Field(28, ge=1, description="Days of history in each daily analytics report.")

    # --- ingestion ---
    max_quarantine_rate: float = Field(0.05, ge=0.0, le=1.0, description="Fail the run above this share of rows.")
    require_landing_files: bool = Field(True, description="Fail (and retry) when a day's raw file is missing.")

    # --- training ---
    models: Names = Field(default_factory=lambda: ["popularity", "als"])
    model_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    epochs: dict[str, int] = Field(default_factory=dict, description="Epochs per model (iterative models only).")
    train_window_days: int = Field(28, ge=1, description="Days of events before the run's end date to train on.")
    split: str = "loo"
    device: str = "auto"
    seed: int = 0
    gpu_models: Names = Field(default_factory=lambda: ["sasrec"], description="Models whose task goes to gpu_queue.")
    gpu_queue: str | None = Field(None, description="Executor queue for GPU training (CeleryExecutor), e.g. 'gpu'.")
    gpu_pool: str | None = Field(None, description="Airflow pool limiting concurrent GPU training tasks.")
    refit_epochs: int | None = Field(None, ge=1, description="Refit early-stopped SASRec by continuing it this many "
                                     "epochs on the whole window instead of training it again from scratch "
                                     "(bench/results/refit.md); None: the refit from scratch.")
    validation_users: float | None = Field(None, gt=0.0, le=1.0,
                                           description="Early-stop SASRec on this share of the users and train on "
                                           "the others' validation events, with no refit (bench/results/refit.md); "
                                           "None: validate on every user, then refit.")
    warm_start: bool = Field(True, description="Nightly runs start SASRec and ALS from the production version "
                                               "except on the cold-start weekday: within the cold run's CI in 8-9% "
                                               "of its time (bench/results/warm_start-ml1m.md).")
    cold_start_weekday: int | None = Field(6, ge=0, le=6, description="Weekday (0 = Monday) whose run trains every "
                                           "model from scratch even with warm_start, so drift cannot accumulate; "
                                           "None: never.")

    # --- promotion gate ---
    gate_metric: str = "ndcg@10"
    gate_tolerance: float = Field(0.0, ge=0.0)

    # --- the serving app ---
    service_url: str | None = Field(None, description="Base URL of the recommendation service; None = no reload.")
    admin_token: SecretStr | None = None
    reload_timeout_s: float = Field(10.0, gt=0)

    # --- alerts ---
    alert_webhook: str | None = Field(None, description="Slack-compatible webhook URL for alerts (None: none sent).")
    alert_metric_drop: float = Field(0.05, ge=0.0, le=1.0,
                                     description="Alert when a production metric falls this share below recent runs.")

    # --- task policy ---
    retries: int = Field(2, ge=0)
    retry_delay_s: float = Field(30.0, gt=0)
    max_retry_delay_s: float = Field(900.0, gt=0)
    task_timeout_s: float = Field(3 * 3600.0, gt=0)

    @field_validator("models", "gpu_models", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        return _split_names(value)

    @field_validator("train_schedule", "service_url", "alert_webhook", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: list[str]) -> list[str]:
        from recsys.models import MODEL_CLASSES

        unknown = [m for m in value if m not in MODEL_CLASSES]
        if unknown or not value:
            raise ValueError(f"unknown or no models {unknown}; known: {', '.join(MODEL_CLASSES)}")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _resolve_paths(self) -> PipelineSettings:
        home = self.home.expanduser().absolute()
        self.home = home
        for name in ("landing", "lake", "registry", "work_dir", "reports_dir"):
            path = getattr(self, name).expanduser()
            setattr(self, name, path if path.is_absolute() else home / path)
        if self.train_schedule is None and not self.train_on_asset:
            raise ValueError("train_recommenders needs a schedule: set train_schedule or train_on_asset")
        return self

    # --- derived values the DAGs use ---
    def landing_file(self, day: date) -> Path:
        """Raw file of one UTC day."""
        return self.landing / self.landing_pattern.format(date=day.isoformat())

    def training_window(self, end: date) -> tuple[date, date]:
        """``[start, end)`` of the events a run ending (exclusively) at `end` trains on."""
        return end - timedelta(days=self.train_window_days), end

    def warm_start_on(self, end: date) -> bool:
        """Whether the run whose window ends at `end` warm-starts (its last day decides the weekly cold run)."""
        day = end - timedelta(days=1)
        return self.warm_start and day.weekday() != self.cold_start_weekday

    def queue_for(self, model: str) -> str | None:
        """Executor queue of a model's training task (None = the default queue)."""
        return self.gpu_queue if model in self.gpu_models else None

    def pool_for(self, model: str) -> str | None:
        """Pool of a model's training task (None = the default pool)."""
        return self.gpu_pool if model in self.gpu_models else None

    def default_args(self) -> dict[str, Any]:
        """Task defaults for every DAG: retries with exponential backoff and a hard timeout."""
        return {
            "owner": "recsys",
            "retries": self.retries,
            "retry_delay": timedelta(seconds=self.retry_delay_s),
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": timedelta(seconds=self.max_retry_delay_s),
            "execution_timeout": timedelta(seconds=self.task_timeout_s),
        }


def load_settings(overrides: str | Mapping[str, Any] | None = None) -> PipelineSettings:
    """Settings from the environment with `overrides` on top (a mapping, or the JSON text of a Variable)."""
    values: Any = overrides or {}
    if isinstance(values, str):
        try:
            values = json.loads(values)
        except json.JSONDecodeError as err:
            raise InputError(f"pipeline settings overrides are not valid JSON ({err}); "
                             f"fix the Airflow Variable {VARIABLE_NAME!r}") from err
    if not isinstance(values, Mapping):
        raise InputError(f"pipeline settings overrides must be a JSON object, got {type(values).__name__}")
    try:
        return PipelineSettings(**dict(values))
    except ValidationError as err:
        raise InputError(f"invalid pipeline settings: {err}") from err
