"""OPTIMADE v1.2, read-only, over the service's stored structures (mounted at /optimade by app.main)."""
