"""Runtime orchestration (opt-in): the original's ``market_data_pipeline.orchestration``.

Every call works both ways: plainly (``breaker.record_failure()``, ``for quote in
runtime.stream_quotes([...])``, ``with PipelineRuntime() as runtime:``) and with asyncio
(``await breaker.record_failure()``, ``async for``, ``async with``). Calls that never wait
complete at once and return something awaiting gives back; calls that wait (a rate-limited
``acquire``, stopping a pipeline, streaming) never block a running event loop: the engine
waits on an executor thread with the GIL released, and quotes that are ready are read in
batches on the loop's thread.
"""

from . import _native
from ._aio import in_executor
from ._native import (
    CircuitBreaker,
    CircuitBreakerOpen,
    ConfigError,
    CoolingDown,
    MarketDataError,
    PipelineError,
    PipelineRuntimeError,
    RateCoordinator,
    RateLimited,
    RegistryError,
    SourceError,
    UnknownProvider,
)
from .pipeline import AwaitableList, PipelineKey
from .ticks import EMPTY, TICK_DTYPE, ticks_from_bytes  # noqa: F401 (TICK_DTYPE re-exported)

__all__ = [
    "PipelineRuntime",
    "PipelineRuntimeSettings",
    "PipelineSettings",
    "PipelineSpec",
    "SourceRegistry",
    "SourceRouter",
    "RateCoordinator",
    "CircuitBreaker",
    "CircuitBreakerOpen",
    "QuoteStream",
    "register_source_provider",
    "MarketDataError",
    "RateLimited",
    "CoolingDown",
    "UnknownProvider",
    "ConfigError",
    "RegistryError",
    "SourceError",
    "PipelineError",
    "PipelineRuntimeError",
]

ENTRY_POINT_GROUP = "market_data.providers"

# Providers registered in this process (the analogue of a provider crate's
# `register_source_provider!`): found by every `discover_entrypoints()` and every runtime.
_PROVIDERS = {}


def register_source_provider(name, cls):
    """Make `cls` (a source class: an engine factory, or a Python class with the TickSource
    methods) discoverable as provider `name` in this process."""
    _PROVIDERS[name] = cls


def _entry_point_providers():
    """Providers installed packages declare under ``[project.entry-points."market_data.providers"]``."""
    try:
        from importlib.metadata import entry_points
    except ImportError:  # pragma: no cover
        return {}
    eps = entry_points()
    if hasattr(eps, "select"):
        found = eps.select(group=ENTRY_POINT_GROUP)
    else:  # Python 3.9
        found = eps.get(ENTRY_POINT_GROUP, [])
    out = {}
    for ep in found:
        out[ep.name] = ep.load()
    return out


def _discovered():
    found = _entry_point_providers()
    found.update(_PROVIDERS)
    return found


# ---------------------------------------------------------------------------------------
# Quote streams


class QuoteStream:
    """Quotes of ``stream_quotes`` or ``router.stream()``: ``for``/``async for`` yield
    :class:`Quote` objects; ``read_ticks()`` returns NumPy arrays of raw ticks (one copy per
    batch). ``close()`` (or leaving ``with``) stops its pipeline and returns the report."""

    __slots__ = ("_native", "__weakref__")

    def __init__(self, native):
        self._native = native

    def __iter__(self):
        return self._native

    def __aiter__(self):
        return self._native

    def read_ticks(self, max_ticks=65536, timeout=0.05):
        """Up to `max_ticks` ready ticks as a NumPy array of ``TICK_DTYPE`` (waits up to
        `timeout` seconds, GIL released, when none is ready); ``None`` once the stream has
        ended."""
        buf = self._native.read_tick_bytes(max_ticks, timeout)
        if buf is None:
            return None
        return ticks_from_bytes(buf) if buf else EMPTY

    async def aread_ticks(self, max_ticks=65536, timeout=0.05):
        """``read_ticks`` for coroutines: ready ticks at once, else waits on an executor
        thread."""
        buf = self._native.read_tick_bytes(max_ticks, 0.0)
        if buf is not None and not buf:
            import asyncio

            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, self._native.wait, timeout)
            buf = self._native.read_tick_bytes(max_ticks, 0.0)
        if buf is None:
            return None
        return ticks_from_bytes(buf) if buf else EMPTY

    @property
    def finished(self):
        return self._native.finished

    def close(self):
        return in_executor(self._native.close)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._native.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await in_executor(self._native.close)


# ---------------------------------------------------------------------------------------
# Registry and router


class SourceRegistry(_native.SourceRegistry):
    """Source classes by name. ``register(name, cls)``, ``load(name)`` (a source class:
    ``load("synthetic")(symbols=["AAPL"])``), ``discover_entrypoints()``."""

    def discover_entrypoints(self):
        """Register the providers found in installed packages' entry points
        (``market_data.providers``), those registered in this process with
        :func:`register_source_provider`, and those linked into the engine. Names already
        registered keep their class. Returns the names found, sorted."""
        found = set(self._discover_linked())
        for name, cls in _discovered().items():
            if name not in self:
                self.register(name, cls)
            found.add(name)
        return sorted(found)


class SourceRouter:
    """Meta-source with automatic fallback (``strategy="first"``; also ``"round_robin"``,
    ``"fastest"``, ``"arbitrate"``). Sources are made by a registry's classes, or are Python
    objects with the TickSource methods. ``router.stream()`` yields its quotes."""

    def __init__(self, sources, strategy="first"):
        sources = [s for s in sources if s is not Ellipsis]
        if not sources:  # the seed's `SourceRouter(sources=[...])` placeholder
            from .source import SyntheticSource

            sources = [SyntheticSource(symbols=["AAPL"])]
        self._native = _native.SourceRouter(sources, strategy)

    def stream(self):
        """The routed quotes (the router runs on an engine thread; a router streams once)."""
        return QuoteStream(self._native._stream())

    @property
    def active(self):
        return self._native.active


# ---------------------------------------------------------------------------------------
# Settings and runtime


class _Settings:
    _fields = {}

    def __init__(self, *placeholders, **kwargs):
        if any(p is not Ellipsis for p in placeholders):
            raise TypeError(f"{type(self).__name__} takes keyword arguments only")
        unknown = set(kwargs) - set(self._fields)
        if unknown:
            raise TypeError(
                f"{type(self).__name__}: unknown field(s) {sorted(unknown)} "
                f"(known: {', '.join(self._fields)})"
            )
        for name, default in self._fields.items():
            setattr(self, name, kwargs.get(name, default))

    def __repr__(self):
        inner = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._fields)
        return f"{type(self).__name__}({inner})"


class PipelineSettings(_Settings):
    """Defaults of every pipeline (the TOML ``[pipeline]`` section)."""

    _fields = {
        "ring_capacity": None,
        "chunk_size": None,
        "backpressure": None,
        "batch_rows": None,
        "batch_age_ms": None,
        "stream_capacity": None,
    }

    def to_dict(self):
        return {k: getattr(self, k) for k in self._fields if getattr(self, k) is not None}


class PipelineRuntimeSettings(_Settings):
    """Settings of a :class:`PipelineRuntime` (the seed's fields). ``providers`` maps a name
    to its settings (``kind`` — default: the name —, ``symbols``, ``rate``, ``capacity``,
    ``refill_rate``, ``request_based``…); ``{...}`` takes the defaults. Validated when the
    runtime starts; errors name the field."""

    _fields = {
        "pipeline": None,
        "orchestration_enabled": True,
        "max_concurrent_pipelines": 10,
        "enable_rate_coordination": True,
        "circuit_breaker_threshold": 5,
        "circuit_breaker_timeout_sec": 60.0,
        "providers": None,
        "default_sources": None,
        "routing_strategy": None,
        "routing_hold_down_ms": None,
        "routing_staleness_ms": None,
        "workers": None,
    }

    def to_dict(self):
        out = {}
        for k in self._fields:
            v = getattr(self, k)
            if v is None:
                continue
            if k == "pipeline":
                v = v.to_dict() if isinstance(v, PipelineSettings) else dict(v)
            elif k == "providers":
                v = {name: _provider_dict(name, p) for name, p in v.items()}
            out[k] = v
        if "providers" in out and "default_sources" not in out:
            out["default_sources"] = list(out["providers"])
        return out


def _provider_dict(name, p):
    if p is Ellipsis or p == {Ellipsis}:  # the seed's `{...}`
        p = {}
    p = dict(p)
    p.setdefault("kind", name)
    return p


class PipelineSpec(_Settings):
    """What :meth:`PipelineRuntime.run_pipeline` starts. ``PipelineSpec(...)`` (the seed's
    placeholder) is tenant ``default``, pipeline ``default``, symbol AAPL."""

    _fields = {
        "tenant_id": "default",
        "pipeline_id": "default",
        "sources": (),
        "symbols": ("AAPL",),
        "max_ticks": None,
        "dedicated": False,
        "bar_window_sec": None,
    }


class PipelineRuntime:
    """The orchestrator: ``async with PipelineRuntime(settings) as runtime:`` (or ``with``).

    It starts on entering (or on first use) and, on leaving, stops every pipeline gracefully.
    Providers discovered like :meth:`SourceRegistry.discover_entrypoints` are available to
    its settings."""

    def __init__(self, settings=None):
        self.settings = settings if settings is not None else PipelineRuntimeSettings()
        self._native = None

    def start(self):
        if self._native is None:
            providers = list(_discovered().items())
            self._native = _native.Runtime(self.settings.to_dict(), providers)
        return self

    def _rt(self):
        return self.start()._native

    # context managers
    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.shutdown()

    async def __aenter__(self):
        return self.start()

    async def __aexit__(self, *exc):
        await in_executor(self._native.shutdown)

    # the seed's calls
    def stream_quotes(self, symbols):
        """Quotes of `symbols` from the default sources (``for`` or ``async for``)."""
        return QuoteStream(self._rt().stream_quotes(list(symbols)))

    def run_pipeline(self, spec):
        """Start `spec`; its key (awaitable)."""
        return PipelineKey(
            self._rt().run_pipeline(
                spec.tenant_id,
                spec.pipeline_id,
                list(spec.sources),
                list(spec.symbols),
                spec.max_ticks,
                spec.dedicated,
                spec.bar_window_sec,
            )
        )

    def list_pipelines(self):
        """The running pipelines (awaitable list of dicts)."""
        return AwaitableList(self._rt().list_pipelines())

    def stop_pipeline(self, key):
        """Stop pipeline `key` (drains) and return its report (awaitable from a coroutine)."""
        return in_executor(self._rt().stop_pipeline, str(key))

    def shutdown(self):
        """Stop everything; the pipelines' reports by key."""
        if self._native is None:
            return AwaitableList()
        return in_executor(self._native.shutdown)

    @property
    def coordinator(self):
        """The runtime's :class:`RateCoordinator` (every provider registered)."""
        return self._rt().coordinator

