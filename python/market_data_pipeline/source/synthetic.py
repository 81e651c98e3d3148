"""The synthetic source class: ``SyntheticSource(symbols=[...], rate=..., seed=...)``."""

from .. import _native

SyntheticSource = _native.builtin_factory("synthetic")

__all__ = ["SyntheticSource"]
