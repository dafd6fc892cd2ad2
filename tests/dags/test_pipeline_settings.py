"""PipelineSettings: defaults, RECSYS_* environment variables, the Airflow Variable's JSON overrides on top,
and clear errors for bad values."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from recsys_dags.settings import PipelineSettings, load_settings
from support.airflow_env import DAGS  # noqa: F401  (puts the DAG folder on sys.path)

from recsys.errors import InputError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in [k for k in os.environ if k.startswith("RECSYS_")]:
        monkeypatch.delenv(key)


def test_relative_paths_resolve_against_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_HOME", str(tmp_path))
    monkeypatch.setenv("RECSYS_REGISTRY", "/srv/registry")
    settings = PipelineSettings()
    assert settings.lake == tmp_path / "lake" and settings.landing == tmp_path / "landing"
    assert settings.registry == Path("/srv/registry")
    assert settings.landing_file(date(2026, 1, 2)) == tmp_path / "landing" / "events-2026-01-02.jsonl"


def test_lists_and_dicts_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_MODELS", "popularity, als,popularity")
    monkeypatch.setenv("RECSYS_GPU_MODELS", '["als"]')
    monkeypatch.setenv("RECSYS_EPOCHS", '{"sasrec": 5}')
    monkeypatch.setenv("RECSYS_GPU_QUEUE", "gpu")
    settings = PipelineSettings()
    assert settings.models == ["popularity", "als"]  # order kept, duplicates dropped
    assert settings.epochs == {"sasrec": 5}
    assert settings.queue_for("als") == "gpu" and settings.queue_for("popularity") is None
    assert settings.pool_for("als") is None


def test_variable_json_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_MAX_QUARANTINE_RATE", "0.01")
    monkeypatch.setenv("RECSYS_TRAIN_WINDOW_DAYS", "7")
    settings = load_settings('{"max_quarantine_rate": 0.2, "service_url": "http://svc:8000"}')
    assert settings.max_quarantine_rate == 0.2 and settings.service_url == "http://svc:8000"
    assert settings.train_window_days == 7
    assert settings.training_window(date(2026, 1, 10)) == (date(2026, 1, 3), date(2026, 1, 10))
    assert load_settings(None).max_quarantine_rate == 0.01


def test_default_args_have_exponential_backoff() -> None:
    args = PipelineSettings(retries=3, retry_delay_s=10).default_args()
    assert args["retries"] == 3 and args["retry_delay"] == timedelta(seconds=10)
    assert args["retry_exponential_backoff"] > 1 and args["max_retry_delay"] >= args["retry_delay"]


@pytest.mark.parametrize(("overrides", "message"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"models": ["popularity", "nope"]}', "nope"),
    ('{"max_quarantine_rate": 1.5}', "max_quarantine_rate"),
    ('{"train_schedule": "", "train_on_asset": false}', "needs a schedule"),
])
def test_bad_settings_are_clear_errors(overrides: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_settings(overrides)
