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
    lake: Path | None = Field(
        default=None, description="Lake of POST /identify links and DELETE /users erasures (default: lake/ next "
                                  "to the registry, when it exists).")
    reports_dir: Path | None = Field(default=None, description="Folder of rendered HTML reports (/reports).")
    admin_token: SecretStr | None = Field(
        default=None, description="Bearer token of /admin routes; unset disables them.")
    reload_interval_s: float = Field(default=5.0, ge=0, description="How often alias files are polled (0: never).")
    history_limit: int = Field(default=50, ge=1, le=1000, description="Live events per user passed to the models.")
    max_batch_users: int = Field(default=1000, ge=1, description="Largest POST /recommendations batch.")
    max_events: int = Field(default=10_000, ge=1, description="Largest POST /events batch.")
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
    def lake_folder(self) -> Path | None:
        default = self.registry.resolve().parent / "lake"
        return self.lake or (default if default.is_dir() else None)

    @property
    def landing_folder(self) -> Path:
        return self.landing_dir or self.registry.resolve().parent / "landing"


@lru_cache
def get_settings() -> Settings:
    """Settings read once from the environment."""
    return Settings()
