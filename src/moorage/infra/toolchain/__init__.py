"""Upstream binaries (Kubernetes, etcd, kwok) that Moorage runs: pinned, cached, verified."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from .cache import CacheEntry, ToolchainCache
from .catalog import Binary

CACHE_DIR_ENV = "MOORAGE_TOOLCHAIN_DIR"


def default_cache_dir() -> Path:
    """$MOORAGE_TOOLCHAIN_DIR, else $XDG_CACHE_HOME/moorage/toolchain (~/.cache/moorage/toolchain)."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override)
    return Path(platformdirs.user_cache_dir("moorage")) / "toolchain"


def default_cache() -> ToolchainCache:
    return ToolchainCache(default_cache_dir())


def locate(component: str, version: str, cache: ToolchainCache | None = None) -> Path:
    """The path of an installed binary, for the code that starts processes."""
    cache = cache or default_cache()
    product = {"etcd": "etcd", "kwok": "kwok"}.get(component, "kubernetes")
    entry = cache.entry(Binary(component, version, product))
    if entry is None or not entry.path.exists():
        raise FileNotFoundError(
            f"{component} {version} is not installed; run `moorage toolchain install`"
        )
    return entry.path


__all__ = ["Binary", "CacheEntry", "ToolchainCache", "default_cache", "default_cache_dir", "locate"]
