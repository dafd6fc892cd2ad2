"""Constants and helpers shared by the Airflow tests (a plain module: test files import it by name)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
VENV_BIN = Path(sys.executable).parent
AIRFLOW = str(VENV_BIN / "airflow")

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DB = int(os.environ.get("RECSYS_TEST_REDIS_DB", "13"))  # a db number of its own, flushed by the tests

# Settings every DAG test parses with: two cheap models, no retries (a failure shows at once), small epochs.
PIPELINE_ENV = {
    "RECSYS_MODELS": "popularity,als",
    "RECSYS_EPOCHS": '{"als": 3}',
    "RECSYS_MODEL_PARAMS": '{"als": {"factors": 16}}',
    "RECSYS_RETRIES": "0",
    "RECSYS_TRAIN_WINDOW_DAYS": "28",
}


def airflow_env(home: Path) -> dict[str, str]:
    """Environment of an Airflow installation rooted at `home` whose DAG folder is the project's dags/."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        **PIPELINE_ENV,
    }



def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False
