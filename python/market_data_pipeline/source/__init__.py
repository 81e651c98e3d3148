"""Source classes of the engine (``SyntheticSource``, ``ReplaySource``, ``TcpSource``)."""

from .synthetic import SyntheticSource
from .. import _native

ReplaySource = _native.builtin_factory("replay")
TcpSource = _native.builtin_factory("tcp")

__all__ = ["SyntheticSource", "ReplaySource", "TcpSource"]
