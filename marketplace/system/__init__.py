"""Operational routes: health of the platform and its dependencies."""
