"""Shared vocabulary every layer may import: AWS errors, request context, store kinds, regions.

Nothing in core/ imports another Moorage package (tests/unit/test_layers.py checks it)."""
