"""HTTP recommendation service."""
