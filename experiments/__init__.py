"""Measured, not shipped: code kept runnable with its tests and configs (see README.md)."""
