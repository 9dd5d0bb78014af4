"""Naive servers realcheck is compared against; baselines only, never a way to serve it."""
