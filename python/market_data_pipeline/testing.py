"""Stand-ins for the seed's IBKR and Polygon providers: the engine's deterministic,
synthetic-backed factories (IBKR seed 1, Polygon seed 2; unpaced unless ``rate`` is given;
``fail_at_tick=N`` makes one fail for good at its N-th tick, to show a router's fallback).

They are not registered by default (the names belong to real providers)::

    from market_data_pipeline.orchestration import register_source_provider
    from market_data_pipeline.testing import IBKRStandIn, PolygonStandIn
    register_source_provider("ibkr", IBKRStandIn)
    register_source_provider("polygon", PolygonStandIn)
"""

from . import _native

IBKRStandIn = _native.standin_factory("ibkr")
PolygonStandIn = _native.standin_factory("polygon")

__all__ = ["IBKRStandIn", "PolygonStandIn"]
