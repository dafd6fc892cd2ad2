"""Helpers the tests share (importable as ``support``: tests/ is on sys.path through its conftest).

- `browser`: headless Chromium screenshots of rendered reports.
- `service`: a real uvicorn server and an httpx client for the service tests.
- `lakes`: small lakes of hand-written or real events for the feature-store tests.
- `airflow_env`: an AIRFLOW_HOME, throw-away PostgreSQL/Redis and a small Airflow cluster for the DAG tests.
"""
