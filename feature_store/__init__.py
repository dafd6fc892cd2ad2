"""Feature store (offline DuckDB, online SQLite/Redis) and behaviour analytics."""
