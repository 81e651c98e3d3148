"""Engine errors arrive as Python exceptions with the original's names and the Rust message."""

import asyncio

import pytest

from market_data_pipeline import MarketDataError, create_pipeline
from market_data_pipeline.orchestration import (
    CircuitBreaker,
    CircuitBreakerOpen,
    ConfigError,
    PipelineRuntime,
    PipelineRuntimeSettings,
    RateCoordinator,
    RateLimited,
    RegistryError,
    SourceRegistry,
    UnknownProvider,
)


def test_open_breaker_refuses_acquire_with_circuit_breaker_open():
    c = RateCoordinator()
    c.register_provider("ibkr", breaker_threshold=2)
    c.record_failure("ibkr")
    c.record_failure("ibkr")
    with pytest.raises(CircuitBreakerOpen, match="ibkr"):
        c.acquire("ibkr")
    with pytest.raises(CircuitBreakerOpen):
        asyncio.run(_await(c.acquire("ibkr")))
    assert issubclass(CircuitBreakerOpen, MarketDataError)


async def _await(x):
    return await x


def test_unknown_provider_lists_the_known_ones():
    c = RateCoordinator()
    c.register_provider("ibkr")
    with pytest.raises(UnknownProvider, match=r'unknown provider "polygon".*ibkr'):
        c.acquire("polygon")


def test_rate_limited_try_acquire_and_waiting_acquire():
    c = RateCoordinator()
    c.register_provider("ibkr", capacity=2, refill_rate=1000)
    c.try_acquire("ibkr")
    c.try_acquire("ibkr")
    with pytest.raises(RateLimited, match="retry after"):
        c.try_acquire("ibkr")
    c.acquire("ibkr")  # waits for the refill (GIL released)
    asyncio.run(_await(c.acquire("ibkr")))  # sleeps on the loop until the refill


def test_invalid_configuration_names_the_field():
    with pytest.raises(ConfigError, match="threshold"):
        CircuitBreaker(threshold=0, timeout=1.0)
    with pytest.raises(ConfigError, match="max_concurrent_pipelines"):
        PipelineRuntime(PipelineRuntimeSettings(max_concurrent_pipelines=0)).start()
    with pytest.raises(ConfigError, match="refill_rate|rate"):
        RateCoordinator().register_provider("x", refill_rate=0)


def test_unknown_source_lists_registered_names():
    with pytest.raises(RegistryError, match="nope.*synthetic"):
        SourceRegistry().load("nope")
    with pytest.raises(MarketDataError, match="source"):
        create_pipeline("t", "p", "nope", ["AAPL"])
