"""Fixtures for the Airflow tests: an AIRFLOW_HOME in a temp folder, a migrated SQLite metadata DB for
`dag.test()`, and throw-away PostgreSQL / Redis resources for the integration tests (skipped where absent).

Airflow reads its configuration when it is first imported, so test modules here import airflow only inside
fixtures and tests, after `airflow_home` has set the environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.airflow_env import (
    AIRFLOW,
    DAGS,
    PG_HOST,
    PG_PORT,
    PG_USER,
    PIPELINE_ENV,
    REDIS_DB,
    REDIS_HOST,
    REDIS_PORT,
    airflow_env,
    reachable,
)


@pytest.fixture(autouse=True)
def pipeline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline settings every DAG test parses and runs with (per test, so nothing leaks to other suites)."""
    for key, value in PIPELINE_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh AIRFLOW_HOME for this test session (set in os.environ before airflow is imported)."""
    if "airflow.configuration" in sys.modules:
        from airflow.configuration import AIRFLOW_HOME

        if not AIRFLOW_HOME.startswith(str(tmp_path_factory.getbasetemp())):
            pytest.fail(f"airflow was imported before the tests set AIRFLOW_HOME (it uses {AIRFLOW_HOME}); "
                        "import airflow inside tests only")
    home = tmp_path_factory.mktemp("airflow_home")
    patch = pytest.MonkeyPatch()
    for key, value in airflow_env(home).items():
        patch.setenv(key, value)
    yield home
    patch.undo()


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path) -> Path:
    """The session's SQLite metadata DB, migrated (what `dag.test()` needs)."""
    result = subprocess.run([AIRFLOW, "db", "migrate"], env=os.environ.copy(), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return airflow_home


@pytest.fixture
def dagbag(airflow_home: Path):  # type: ignore[no-untyped-def]
    """The project's DAG folder parsed with the current environment."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS))
    assert not bag.import_errors, bag.import_errors
    return bag


# ------------------------------------------------------------------ external services (integration tests)
@pytest.fixture(scope="session")
def postgres_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL database migrated to Airflow's schema once per session; each test clones it (fast) instead
    of migrating its own. Skips, with the reason, where no PostgreSQL server runs."""
    if not reachable(PG_HOST, PG_PORT):
        pytest.skip(f"no PostgreSQL server on {PG_HOST}:{PG_PORT} (start one, trust auth for user {PG_USER}, "
                    "to run the Airflow integration tests)")
    import psycopg2

    try:
        admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=5)
    except psycopg2.OperationalError as err:
        pytest.skip(f"PostgreSQL on {PG_HOST}:{PG_PORT} refused user {PG_USER}: {err}")
    admin.autocommit = True
    name = f"recsys_airflow_tmpl_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
               **airflow_env(tmp_path_factory.mktemp("airflow_migrate")),
               "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _pg_url(name)}
        result = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300,
                                start_new_session=True)
        assert result.returncode == 0, f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        yield name
    finally:
        _drop_database(admin, name)
        admin.close()


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A throw-away, already migrated Airflow metadata database (a clone of the template), dropped afterwards."""
    import psycopg2

    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=5)
    admin.autocommit = True
    name = f"recsys_airflow_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    try:
        yield _pg_url(name)
    finally:
        _drop_database(admin, name)
        admin.close()


def _pg_url(database: str) -> str:
    return f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def _drop_database(admin: Any, name: str) -> None:
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND "
                    "pid <> pg_backend_pid()", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis db number of the tests' own on the local server, empty before and after; skips where none runs."""
    if not reachable(REDIS_HOST, REDIS_PORT):
        pytest.skip(f"no Redis server on {REDIS_HOST}:{REDIS_PORT} (needed as the Celery broker)")
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    client.flushdb()
    try:
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
    finally:
        client.flushdb()
        client.close()
