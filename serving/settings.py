"""Runtime settings of the service, from the environment (prefix ``RECSYS_``; ``REDIS_URL`` selects Redis)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the service needs to start; each field can be set as ``RECSYS_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="RECSYS_", extra="ignore", populate_by_name=True)

    registry: Path = Field(default=Path("registry"), description="Model registry folder.")
    alias: str = Field(default="production", description="Alias served for every model name.")
    default_model: str | None = Field(
        default=None, description="Model used when a request names none (default: als if loaded, else the first).")
    online_store_url: str | None = Field(
        default=None, validation_alias=AliasChoices("online_store_url", "RECSYS_ONLINE_STORE_URL", "REDIS_URL"),
        description="redis://... for Redis; unset for the SQLite file at online_store_path.")
    online_store_path: Path | None = Field(
        default=None, description="SQLite online store (default: online.sqlite next to the registry).")
    redis_prefix: str = Field(default="recsys", description="Key prefix in Redis.")
    landing_dir: Path | None = Field(
        default=None, description="Where accepted events are appended as JSON Lines for the next ingestion "
                                  "(default: landing/ next to the registry).")
    reports_dir: Path | None = Field(default=None, description="Folder of rendered HTML reports (/reports).")
    log_impressions: bool = Field(
        default=True, description="Log every answered list to landing/impressions-*.jsonl (online evaluation "
                                  "needs it; off only to measure its cost).")
    impression_flush_s: float = Field(
        default=1.0, gt=0, le=10, description="Impressions are fsynced at most this long after they are written "
                                           "(an fsync costs kernel time: once a second, like Redis everysec).")
    experiments_poll_s: float = Field(default=1.0, ge=0, description="How often experiment definitions are polled.")
    admin_token: SecretStr | None = Field(
        default=None, description="Bearer token of /admin routes; unset disables them.")
    alert_webhook: str | None = Field(default=None, description="Slack-compatible webhook for the service's alerts "
                                                           "(a jump in the share of fallback answers).")
    alert_interval_s: float = Field(default=60.0, gt=0, description="Interval over which the fallback share is judged.")
    ui_token: SecretStr | None = Field(
        default=None, description="Read-only token of the dashboard (/ui); the admin token also opens it.")
    reload_interval_s: float = Field(default=5.0, ge=0, description="How often alias files are polled (0: never).")
    history_limit: int = Field(default=50, ge=1, le=1000, description="Live events per user passed to the models.")
    max_batch_users: int = Field(default=1000, ge=1, description="Largest POST /recommendations batch.")
    max_events: int = Field(default=10_000, ge=1, description="Largest POST /events batch.")
    max_body_bytes: int = Field(default=8 << 20, ge=1024, description="Largest request body (413 above it), "
                                "enforced before the body is parsed.")
    offload_batch_users: int = Field(
        default=64, ge=1, description="POST /recommendations batches of at least this many users are scored in a "
                                      "worker thread, so they do not stall the event loop.")
    store_retry_s: float = Field(default=1.0, gt=0, description="How often an unreachable online store is probed.")
    store_backlog: int = Field(default=100_000, ge=0, description="Writes kept for replay while the online store "
                                                                  "is down (they are in the landing files anyway).")
    lake: Path | None = Field(default=None, description="Lake whose item catalogue (LAKE/items) and recent events the "
                                                       "catalogue routes and filters use.")
    catalog_refresh_s: float = Field(default=0.25, ge=0, le=1.0, description="How often each worker re-checks the "
                                     "catalogue for changes made by other workers (seconds).")
    explore_share: float = Field(default=0.0, ge=0, le=0.5, description="Share of personal slots given to fresh "
                                 "items of the user's categories (0: no exploration).")
    explore_days: float = Field(default=14.0, gt=0, description="Items created within this many days are fresh.")
    gc_freeze: bool = Field(
        default=True, description="Move objects alive after start-up out of the garbage collector's reach "
                                  "(fewer, cheaper collections on the hot path).")
    compute_threads: int = Field(
        default=1, ge=0, description="BLAS/OpenMP/torch threads per process (0: library defaults). One request is "
                                     "scored at a time, so extra threads only spin.")

    @property
    def online_store_file(self) -> Path:
        return self.online_store_path or self.registry.resolve().parent / "online.sqlite"

    @property
    def lake_folder(self) -> Path:
        """The lake: `lake`, else lake/ next to the registry (where `recsys demo` and the DAGs put it)."""
        return self.lake or self.registry.resolve().parent / "lake"

    @property
    def identity_lake(self) -> Path | None:
        """Lake of POST /identify links and DELETE /users erasures: `lake`, else lake/ next to the registry when it
        exists (None: the service keeps links in the online store only)."""
        return self.lake if self.lake is not None else (self.lake_folder if self.lake_folder.is_dir() else None)

    @property
    def landing_folder(self) -> Path:
        return self.landing_dir or self.registry.resolve().parent / "landing"


@lru_cache
def get_settings() -> Settings:
    """Settings read once from the environment."""
    return Settings()
