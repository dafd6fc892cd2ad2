"""What the DAG files share: their settings (`settings`) and the preamble every DAG file repeats (`common`).

This package belongs to the Airflow deployable, not to the `recsys` library: schedules, retries, queues, the
Airflow Variable and the lake asset are Airflow concerns. Airflow puts the DAG folder on ``sys.path``, so DAG
files import it as ``recsys_dags``.
"""
