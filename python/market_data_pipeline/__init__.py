"""market_data_pipeline: the original's API over the Rust engine.

The existing API::

    from market_data_pipeline import create_pipeline
    pipeline = create_pipeline(tenant_id="t", pipeline_id="p", source="synthetic", symbols=["AAPL"])
    report = pipeline.run(duration_sec=1.0)        # or: await pipeline.run(duration_sec=1.0)

Orchestration (opt-in) is in :mod:`market_data_pipeline.orchestration`.
"""

from ._native import (
    BarOperator,
    CountingSink,
    HybridBatcher,
    PipelineContext,
    CircuitBreakerOpen,
    ConfigError,
    CoolingDown,
    MarketDataError,
    PipelineError,
    PipelineRuntimeError,
    Quote,
    RateLimited,
    RegistryError,
    SourceError,
    UnknownProvider,
)
from .pipeline import Pipeline, StreamingPipeline, create_pipeline
from .ticks import TICK_DTYPE, PRICE_SCALE

__all__ = [
    "create_pipeline",
    "Pipeline",
    "StreamingPipeline",
    "BarOperator",
    "HybridBatcher",
    "CountingSink",
    "PipelineContext",
    "Quote",
    "TICK_DTYPE",
    "PRICE_SCALE",
    "MarketDataError",
    "CircuitBreakerOpen",
    "RateLimited",
    "CoolingDown",
    "UnknownProvider",
    "ConfigError",
    "RegistryError",
    "SourceError",
    "PipelineError",
    "PipelineRuntimeError",
]
