"""The seed's Python examples (phase-3-orchestration.md), verbatim, in order, and the two ways
the tests run them.

Each snippet is the seed's text unchanged. `run_async` compiles it as asyncio code (top-level
`await`, `async for`, `async with` allowed, as in the asyncio REPL the seed's fragments are
written for); `run_sync` runs its plain synchronous form, made mechanically: `await ` and the
`async ` of `def`/`for`/`with` removed, `asyncio.sleep` → `time.sleep`, `asyncio.run(main())`
→ `main()`.
"""

import ast
import asyncio
import re
import time

EXISTING_API = """\
# Existing API (still works!)
from market_data_pipeline import create_pipeline

pipeline = create_pipeline(
    tenant_id='my_tenant',
    pipeline_id='my_pipeline',
    source='synthetic',
    symbols=['AAPL']
)
"""

OPT_IN = """\
# New orchestration API (opt-in)
from market_data_pipeline.orchestration import PipelineRuntime

async with PipelineRuntime() as runtime:
    async for quote in runtime.stream_quotes(['AAPL']):
        process(quote)
"""

REGISTRY = """\
from market_data_pipeline.orchestration import SourceRegistry
from market_data_pipeline.source.synthetic import SyntheticSource

registry = SourceRegistry()

# Manual registration
registry.register("synthetic", SyntheticSource)

# Load by name
source_cls = registry.load("synthetic")
source = source_cls(symbols=["AAPL"], ...)

# Discover external providers
registry.discover_entrypoints()
"""

ROUTER = """\
from market_data_pipeline.orchestration import SourceRouter

# Create sources
ibkr = IBKRSource(symbols=['AAPL'], ...)
polygon = PolygonSource(symbols=['AAPL'], ...)

# Create router
router = SourceRouter(
    sources=[ibkr, polygon],
    strategy="first"
)

# Use like any source
async for quote in router.stream():
    print(quote)
"""

ROUTER_AS_PIPELINE_SOURCE = """\
# Router can be used directly in pipelines
pipeline = StreamingPipeline(
    source=router,  # Router is a TickSource!
    operator=operator,
    batcher=batcher,
    sink=sink,
    ctx=ctx
)
"""

COORDINATOR = """\
from market_data_pipeline.orchestration import RateCoordinator

coordinator = RateCoordinator()

# Register provider with rate limits
coordinator.register_provider(
    name="ibkr",
    capacity=60,        # Burst capacity
    refill_rate=60,     # Tokens/sec
    cooldown_sec=600,   # 10min cooldown on errors
    breaker_threshold=5,
    breaker_timeout=60.0
)

# Acquire tokens (blocks if not available)
await coordinator.acquire("ibkr")

# Record failures for circuit breaker
await coordinator.record_failure("ibkr")

# Trigger cooldown on pacing errors
await coordinator.trigger_cooldown("ibkr", "market_data")
"""

BREAKER = """\
from market_data_pipeline.orchestration import CircuitBreaker, CircuitBreakerOpen

breaker = CircuitBreaker(
    threshold=5,     # Open after 5 failures
    timeout=60.0     # Stay open for 60 seconds
)

# Check state
if breaker.is_open():
    raise CircuitBreakerOpen("IBKR")

# Record failures
try:
    await ibkr.connect()
except Exception:
    await breaker.record_failure()
    raise

# Record success
await breaker.record_success()

# Manual reset
await breaker.reset()
"""

RUNTIME = """\
from market_data_pipeline.orchestration import (
    PipelineRuntime,
    PipelineRuntimeSettings
)

# Configure runtime
settings = PipelineRuntimeSettings(
    orchestration_enabled=True,
    max_concurrent_pipelines=10,
    enable_rate_coordination=True,
    circuit_breaker_threshold=5,
    circuit_breaker_timeout_sec=60.0,
)

# Use as context manager
async with PipelineRuntime(settings) as runtime:
    # Stream quotes
    async for quote in runtime.stream_quotes(['AAPL', 'MSFT']):
        print(f"{quote.symbol}: ${quote.price}")
    
    # Or run pipelines
    spec = PipelineSpec(...)
    key = await runtime.run_pipeline(spec)
    
    # List running pipelines
    pipelines = await runtime.list_pipelines()
    
    # Stop a pipeline
    await runtime.stop_pipeline(key)
"""

EXAMPLE_1 = """\
import asyncio
from market_data_pipeline.orchestration import PipelineRuntime

async def main():
    async with PipelineRuntime() as runtime:
        count = 0
        async for quote in runtime.stream_quotes(['AAPL']):
            print(f"{quote.symbol}: ${quote.price}")
            count += 1
            if count >= 100:
                break

asyncio.run(main())
"""

EXAMPLE_2 = """\
from market_data_pipeline.orchestration import (
    SourceRegistry,
    SourceRouter,
)

# Create registry
registry = SourceRegistry()
registry.discover_entrypoints()  # Find external providers

# Create sources
ibkr = registry.load("ibkr")
polygon = registry.load("polygon")

ibkr_source = ibkr(symbols=['AAPL'], ...)
polygon_source = polygon(symbols=['AAPL'], ...)

# Create router with fallback
router = SourceRouter(
    sources=[ibkr_source, polygon_source],
    strategy="first"
)

# Stream with automatic fallback
async for quote in router.stream():
    print(quote)
"""

EXAMPLE_3 = """\
from market_data_pipeline.orchestration import (
    RateCoordinator,
    CircuitBreaker,
)

# Setup rate coordination
coordinator = RateCoordinator()
coordinator.register_provider("ibkr", capacity=60, refill_rate=60)

# Setup circuit breaker
breaker = CircuitBreaker(threshold=5, timeout=60.0)

# Use in pipeline
async def process_quotes():
    while True:
        # Check circuit breaker
        if breaker.is_open():
            await asyncio.sleep(1)
            continue
        
        try:
            # Acquire rate limit token
            await coordinator.acquire("ibkr")
            
            # Fetch quote
            quote = await ibkr.get_quote("AAPL")
            
            # Record success
            await breaker.record_success()
            
        except Exception as e:
            # Record failure
            await breaker.record_failure()
            await coordinator.record_failure("ibkr")
"""

PATTERN_1 = """\
# Before (existing code)
from market_data_pipeline import create_pipeline

pipeline = create_pipeline(...)
await pipeline.run()

# After (with orchestration)
from market_data_pipeline import create_pipeline
from market_data_pipeline.orchestration import (
    SourceRouter,
    RateCoordinator,
)

# Add router and coordinator
router = SourceRouter(sources=[...])
coordinator = RateCoordinator()

# Rest stays the same
pipeline = create_pipeline(...)
await pipeline.run()
"""

PATTERN_2 = """\
# Start with simple API
from market_data_pipeline import create_pipeline

pipeline = create_pipeline(...)

# Add orchestration features gradually
from market_data_pipeline.orchestration import RateCoordinator

coordinator = RateCoordinator()
coordinator.register_provider("ibkr")

# Eventually move to full runtime
from market_data_pipeline.orchestration import PipelineRuntime

async with PipelineRuntime() as runtime:
    # All orchestration features enabled
    ...
"""

CONFIGURATION = """\
from market_data_pipeline.orchestration import PipelineRuntimeSettings

settings = PipelineRuntimeSettings(
    # Base pipeline settings
    pipeline=PipelineSettings(...),
    
    # Orchestration settings
    orchestration_enabled=True,
    max_concurrent_pipelines=10,
    enable_rate_coordination=True,
    
    # Circuit breaker settings
    circuit_breaker_threshold=5,
    circuit_breaker_timeout_sec=60.0,
    
    # Provider settings (future)
    providers={
        'ibkr': {...},
        'polygon': {...},
    }
)
"""

MIGRATION = """\
from market_data_pipeline.orchestration import PipelineRuntime
settings = PipelineRuntimeSettings(...)
async with PipelineRuntime(settings) as runtime:
    ...
"""


def elide(src):
    """The seed writes `f(symbols=[...], ...)` for "further keywords": a positional argument
    after a keyword one is a syntax error in Python, so that trailing `, ...` is dropped (the
    only change made to the text). `f(...)` alone is valid and kept: `...` stands for the
    defaults."""
    return src.replace(", ...)", ")")


def run_async(src, ns):
    """Run `src` as asyncio code in `ns` (top-level await allowed)."""
    src = elide(src)
    code = compile(src, "<seed>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, ns)
    if asyncio.iscoroutine(result):
        asyncio.run(result)
    return ns


def to_sync(src):
    """The plain synchronous form of `src`."""
    src = src.replace("asyncio.run(main())", "main()")
    src = src.replace("await asyncio.sleep(", "time.sleep(")
    src = re.sub(r"\basync (def|for|with) ", r"\1 ", src)
    return re.sub(r"\bawait ", "", src)


def run_sync(src, ns):
    """Run the synchronous form of `src` in `ns`."""
    ns.setdefault("time", time)
    exec(compile(to_sync(elide(src)), "<seed-sync>", "exec"), ns)
    return ns
