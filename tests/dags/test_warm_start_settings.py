"""Nightly warm starts with a weekly cold run, from the pipeline settings."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from recsys_dags.settings import PipelineSettings
from support.airflow_env import DAGS  # noqa: F401  (puts the DAG folder on sys.path)


def test_warm_nightly_except_the_cold_weekday(tmp_path) -> None:
    settings = PipelineSettings(home=tmp_path)  # the defaults: warm nightly, cold on Sundays
    sunday = date(2026, 3, 1)  # a Sunday: the run whose window ends on Monday covers it
    assert sunday.weekday() == 6
    ends = [sunday + timedelta(days=d) for d in range(1, 8)]
    warm = {end: settings.warm_start_on(end) for end in ends}
    assert [end for end, w in warm.items() if not w] == [sunday + timedelta(days=1)]
    assert not PipelineSettings(home=tmp_path, warm_start=False).warm_start_on(ends[1])  # off when turned off
    assert all(PipelineSettings(home=tmp_path, warm_start=True, cold_start_weekday=None).warm_start_on(e) for e in ends)


def test_cheaper_refit_settings_are_validated(tmp_path: Path) -> None:
    import pydantic

    settings = PipelineSettings(home=tmp_path, validation_users=0.1, refit_epochs=2)
    assert settings.validation_users == 0.1 and settings.refit_epochs == 2
    assert PipelineSettings(home=tmp_path).validation_users is None
    for bad in ({"validation_users": 0.0}, {"validation_users": 1.5}, {"refit_epochs": 0}):
        with pytest.raises(pydantic.ValidationError):
            PipelineSettings(home=tmp_path, **bad)
