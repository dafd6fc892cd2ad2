"""User-behaviour analytics over the lake: metrics (DuckDB SQL) and a self-contained HTML report."""

from feature_store.analytics.report import (
    DEFAULT_FUNNEL,
    AnalyticsConfig,
    analytics_report,
    render_analytics,
    resolve_range,
)

__all__ = ["DEFAULT_FUNNEL", "AnalyticsConfig", "analytics_report", "render_analytics", "resolve_range"]
