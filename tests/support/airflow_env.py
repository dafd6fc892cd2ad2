"""Constants and helpers shared by the Airflow tests (a plain module: test files import it by name)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
if str(DAGS) not in sys.path:  # as Airflow does: DAG files import their shared package (recsys_dags) by name
    sys.path.insert(0, str(DAGS))
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


class AirflowCluster:
    """Real Airflow processes (api-server, scheduler, dag-processor, Celery workers) for integration tests.

    Each process runs in its own session/process group, so `stop` can end it with everything it forked
    (LocalExecutor workers, task supervisors, Celery pool children) and nothing outlives the test.
    """

    def __init__(self, home: Path, env: dict[str, str], api_port: int) -> None:
        self.home, self.env, self.api_port = home, env, api_port
        self.api = f"http://127.0.0.1:{api_port}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        (home / "proc-logs").mkdir(parents=True, exist_ok=True)

    def run(self, *args: str, timeout: float = 300) -> str:
        """Run an airflow CLI command to completion (e.g. `db migrate`); raises with its output on failure."""
        result = subprocess.run([AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                                start_new_session=True)
        if result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result.stdout

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        log = (self.home / "proc-logs" / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen([AIRFLOW, *args], env={**self.env, **(env or {})}, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.home / "proc-logs" / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"--- {name} (exit {self.procs[name].poll()}) ---\n" + "\n".join(text.splitlines()[-lines:])

    def logs(self) -> str:
        return "\n".join(self.log_tail(name) for name in self.procs)

    def check_alive(self) -> None:
        dead = [name for name, proc in self.procs.items() if proc.poll() is not None]
        if dead:
            raise RuntimeError(f"airflow process(es) {dead} exited early:\n" + self.logs())

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every process group, then SIGKILL what is left after `grace` seconds."""
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGKILL)  # also reaps grandchildren that ignored SIGTERM
            proc.wait(timeout=10)

    def group_alive(self) -> list[str]:
        """Names of processes whose group still has members (should be empty after `stop`)."""
        alive = []
        for name, proc in self.procs.items():
            try:
                os.killpg(proc.pid, 0)
                alive.append(name)
            except ProcessLookupError:
                pass
        return alive


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


class ApiClient:
    """The Airflow 3 public REST API (/api/v2) with a JWT from the simple auth manager's /auth/token."""

    def __init__(self, base: str, username: str, password: str) -> None:
        import httpx

        self.base = base
        self.http = httpx.Client(base_url=base, timeout=30.0)
        self.username, self.password = username, password

    def wait_ready(self, cluster: AirflowCluster, timeout: float = 120.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            cluster.check_alive()
            try:
                if self.http.get("/api/v2/monitor/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"api-server not up after {timeout} s\n" + cluster.logs())
            time.sleep(0.5)
        response = self.http.post("/auth/token", json={"username": self.username, "password": self.password})
        assert response.status_code == 201, response.text
        self.http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def get(self, path: str) -> Any:
        response = self.http.get(f"/api/v2{path}")
        response.raise_for_status()
        return response.json()

    def wait_for_dag(self, cluster: AirflowCluster, dag_id: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.http.get(f"/api/v2/dags/{dag_id}").status_code != 200:
            cluster.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"DAG {dag_id} not parsed after {timeout} s\n" + cluster.logs())
            time.sleep(0.5)

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        response = self.http.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        assert response.status_code == 200, response.text
        response = self.http.post(f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
        assert response.status_code == 200, response.text
        return str(response.json()["dag_run_id"])

    def wait_for_run(self, cluster: AirflowCluster, dag_id: str, run_id: str, timeout: float = 300.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            state = self.get(f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
            if state in ("success", "failed"):
                return str(state)
            cluster.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {state} after {timeout} s: {self.task_states(dag_id, run_id)}"
                                   "\n" + cluster.logs())
            time.sleep(1.0)

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        tis = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti for ti in tis}

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        return {k: v["state"] for k, v in self.task_instances(dag_id, run_id).items()}

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        response = self.http.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
                                 headers={"Accept": "text/plain"})
        return response.text[-4000:]

    def close(self) -> None:
        self.http.close()


ADMIN_USER, ADMIN_PASSWORD = "admin", "recsys-test-password"


def cluster_env(home: Path, *, sql_conn: str, executor: str, api_port: int, recsys_home: Path,
                extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of a small real deployment: PostgreSQL metadata, the API server on 127.0.0.1 only, low
    parallelism, a simple-auth-manager admin with a known password, and the pipeline's RECSYS_* settings."""
    import json
    import secrets

    home.mkdir(parents=True, exist_ok=True)
    passwords = home / "simple_auth_manager_passwords.json"
    passwords.write_text(json.dumps({ADMIN_USER: ADMIN_PASSWORD}))
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "RECSYS_"))},
        **airflow_env(home),
        **PIPELINE_ENV,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_conn,
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "RECSYS_HOME": str(recsys_home),
        **(extra or {}),
    }
