#!/usr/bin/env bash
# Local Airflow for clicking through the pipeline (`make airflow`): `airflow standalone` (metadata DB,
# scheduler, DAG processor, triggerer, API server + UI) with AIRFLOW_HOME inside the project, the DAG folder
# pointed at dags/, no example DAGs, the UI on 127.0.0.1 only, low parallelism, and the whole process tree in
# its own process group so Ctrl-C stops all of it.
#
# Environment (all optional): AIRFLOW_PORT (8080), AIRFLOW_HOME (./airflow_home), RECSYS_HOME (pipeline data,
# $AIRFLOW_HOME/recsys), RECSYS_* pipeline settings (see dags/recsys_dags/settings.py), SEED_DAYS (days of
# synthetic raw files put in the empty landing folder, 14; 0 = none).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
[[ -x $VENV/bin/airflow ]] || { echo "no $VENV/bin/airflow: run 'make test' (or pip install -e '.[airflow]') first" >&2; exit 2; }

PORT=${AIRFLOW_PORT:-8080}
export PATH="$VENV/bin:$PATH"  # `airflow standalone` starts its components as `airflow ...` from PATH
export AIRFLOW_HOME=${AIRFLOW_HOME:-$ROOT/airflow_home}
export AIRFLOW__CORE__DAGS_FOLDER=$ROOT/dags
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM=${AIRFLOW__CORE__PARALLELISM:-4}         # LocalExecutor would start 32 workers
export AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES=${AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES:-1}
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT=$PORT
export AIRFLOW__API__WORKERS=${AIRFLOW__API__WORKERS:-1}
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$PORT/execution/
export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=${AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT:-8793}
export RECSYS_HOME=${RECSYS_HOME:-$AIRFLOW_HOME/recsys}
# Locally, training follows ingestion only (the lake asset): a nightly run on today's date would find no data
# in the seeded 2026-01 files. Set RECSYS_TRAIN_SCHEDULE='0 3 * * *' to get the production schedule back.
export RECSYS_TRAIN_SCHEDULE=${RECSYS_TRAIN_SCHEDULE-}
mkdir -p "$AIRFLOW_HOME" "$RECSYS_HOME"

SEED_DAYS=${SEED_DAYS:-14}
LANDING=${RECSYS_LANDING:-$RECSYS_HOME/landing}
if [[ $SEED_DAYS -gt 0 ]] && ! compgen -G "$LANDING/events-*.jsonl" >/dev/null; then
  echo "seeding $LANDING with $SEED_DAYS days of synthetic events (from 2026-01-01)"
  "$VENV/bin/recsys" generate --out "$LANDING" --days "$SEED_DAYS" --seed 0
fi

cat <<MSG
Airflow UI: http://127.0.0.1:$PORT  (user admin; password printed below and kept in
  $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated)
Pipeline data: $RECSYS_HOME   DAGs: $ROOT/dags
Ingest the seeded days, which then triggers training through the lake asset:
  AIRFLOW_HOME=$AIRFLOW_HOME $VENV/bin/airflow backfill create --dag-id ingest_events \\
      --from-date 2026-01-01 --to-date $(date -u -d "2026-01-01 + $SEED_DAYS days" +%F)
  (unpause ingest_events and train_recommenders in the UI first)
Ctrl-C stops everything.
MSG

# setsid: airflow standalone and every component it forks share one new process group, stopped as a whole.
setsid airflow standalone &
GROUP=$!
stop() { trap - INT TERM EXIT; kill -TERM -- "-$GROUP" 2>/dev/null || true
         for _ in $(seq 30); do kill -0 -- "-$GROUP" 2>/dev/null || return 0; sleep 0.5; done
         kill -KILL -- "-$GROUP" 2>/dev/null || true; }
trap stop INT TERM EXIT
wait "$GROUP"
