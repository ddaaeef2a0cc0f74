"""Harvest API v2 adapter."""
