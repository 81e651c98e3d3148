"""`create_pipeline` (the original's existing API) and small awaitable result types."""

from . import _native
from ._aio import in_executor


class PipelineKey(str):
    """A pipeline's key, ``"<tenant_id>/<pipeline_id>"``; awaiting it gives itself, so both
    ``key = runtime.run_pipeline(spec)`` and ``key = await runtime.run_pipeline(spec)`` work."""

    __slots__ = ()

    def __await__(self):
        return self
        yield  # pragma: no cover  (makes this a generator)


class AwaitableList(list):
    """A list that awaiting gives back (results that are ready at once)."""

    def __await__(self):
        return self
        yield  # pragma: no cover


def _positional(args, names):
    """The seed's ``f(...)`` placeholders: drop ``...``, map the rest to `names`."""
    args = [a for a in args if a is not Ellipsis]
    if len(args) > len(names):
        raise TypeError(f"at most {len(names)} positional arguments ({', '.join(names)})")
    return dict(zip(names, args))


class Pipeline:
    """A pipeline made by :func:`create_pipeline`. ``run()`` runs it until its source ends
    (``duration_sec``: that long, then it stops gracefully) and returns its report; from a
    coroutine, ``await pipeline.run()`` runs it on an executor thread."""

    def __init__(self, native):
        self._native = native

    def run(self, duration_sec=None):
        return in_executor(self._native.run, duration_sec)


class StreamingPipeline(Pipeline):
    """The original's ``StreamingPipeline(source=router, operator=operator, batcher=batcher,
    sink=sink, ctx=ctx)``: `source` is a :class:`SourceRouter` or a source made by a source
    class; `operator` a :class:`BarOperator` (none: ticks unchanged), `batcher` a
    :class:`HybridBatcher`, `sink` a :class:`CountingSink`, `ctx` a :class:`PipelineContext`.
    Each object goes into one pipeline. ``run(duration_sec)`` as for :class:`Pipeline`."""

    def __init__(self, source, operator=None, batcher=None, sink=None, ctx=None):
        source = getattr(source, "_native", source)  # the router wrapper's engine router
        super().__init__(_native.streaming_pipeline(source, operator, batcher, sink, ctx))


#: What ``create_pipeline(...)`` (the seed's placeholder call) builds: a finite demo.
DEMO = dict(
    tenant_id="default", pipeline_id="default", source="synthetic", symbols=["AAPL"], source_rate=None
)
DEMO_TICKS = 10_000


def create_pipeline(*args, **kwargs):
    """The original's ``create_pipeline(tenant_id, pipeline_id, source, symbols)``.

    Keywords ``source_rate`` (ticks/s, ``None`` unpaced; default 1000), ``seed`` and
    ``max_ticks`` tune the synthetic source. The seed's placeholder ``create_pipeline(...)``
    builds a demo: synthetic AAPL, 10,000 ticks, unpaced."""
    given = _positional(args, ["tenant_id", "pipeline_id", "source", "symbols"])
    overlap = set(given) & set(kwargs)
    if overlap:
        raise TypeError(f"create_pipeline() got multiple values for {sorted(overlap)}")
    kwargs.update(given)
    if not kwargs and any(a is Ellipsis for a in args):
        kwargs = dict(DEMO, max_ticks=DEMO_TICKS)
    return Pipeline(_native.create_pipeline(**kwargs))
