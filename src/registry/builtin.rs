//! The built-in factories: `synthetic`, `replay` and `tcp`.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::error::ConfigError;
use crate::price::Price;
use crate::registry::error::RegistryError;
use crate::registry::spec::{Params, SourceContext, SourceSpec};
use crate::source::feed::{TcpFeedConfig, TcpFeedSource};
use crate::source::replay::{Repeat, ReplayConfig, ReplaySource, ReplaySpeed};
use crate::source::{Fault, FaultKind, SyntheticConfig, SyntheticSource, TickSource};

/// Parameters a `synthetic` provider understands.
pub const SYNTHETIC_PARAMS: &[&str] = &[
    "seed",
    "rate",
    "burst",
    "trade_per_mille",
    "start_price",
    "tick_size",
    "max_ticks",
    "source_id",
    "staleness_ms",
    "faults",
];

/// Parameters a `replay` provider understands.
pub const REPLAY_PARAMS: &[&str] = &[
    "path",
    "speed",
    "repeat",
    "from_ns",
    "until_ns",
    "loop_gap_ns",
    "stamp_recv",
];

/// Parameters a `tcp` provider understands.
pub const TCP_PARAMS: &[&str] = &[
    "addr",
    "reconnect_ms",
    "connect_timeout_ms",
    "staleness_ms",
    "read_buffer",
];

/// A validation error of a source config (`synthetic.rate`) renamed to the spec's TOML key
/// (`providers.primary.rate`).
fn rekey(spec: &SourceSpec, e: ConfigError) -> ConfigError {
    let field = e.field.rsplit('.').next().unwrap_or(&e.field).to_string();
    ConfigError::new(spec.key(&field), e.reason)
}

fn price(spec: &SourceSpec, p: Params<'_>, key: &str) -> Result<Option<Price>, ConfigError> {
    p.f64(key)?
        .map(|v| {
            Price::from_f64(v)
                .ok_or_else(|| ConfigError::new(spec.key(key), format!("{v} is not a price")))
        })
        .transpose()
}

fn faults(spec: &SourceSpec, p: Params<'_>) -> Result<Vec<Fault>, ConfigError> {
    let mut out = Vec::new();
    for (i, t) in p.tables("faults")?.into_iter().enumerate() {
        let at = |k: &str| spec.key(&format!("faults[{i}].{k}"));
        let int = |k: &str| -> Result<Option<u64>, ConfigError> {
            match t.get(k) {
                None => Ok(None),
                Some(toml::Value::Integer(v)) if *v >= 0 => Ok(Some(*v as u64)),
                Some(v) => Err(ConfigError::new(
                    at(k),
                    format!("expected a non-negative integer, found {v}"),
                )),
            }
        };
        if let Some(k) = t
            .keys()
            .find(|k| !["at_tick", "kind", "duration_ms"].contains(&k.as_str()))
        {
            return Err(ConfigError::new(
                at(k),
                "unknown fault field (known: at_tick, kind, duration_ms)",
            ));
        }
        let at_tick = int("at_tick")?.ok_or_else(|| ConfigError::new(at("at_tick"), "missing"))?;
        let duration = || -> Result<Duration, ConfigError> {
            int("duration_ms")?
                .map(Duration::from_millis)
                .ok_or_else(|| ConfigError::new(at("duration_ms"), "missing (needed by this kind)"))
        };
        let kind = match t.get("kind").and_then(toml::Value::as_str) {
            Some("error") => FaultKind::Error,
            Some("fail") => FaultKind::Fail,
            Some("stall") => FaultKind::Stall(duration()?),
            Some("disconnect") => FaultKind::Disconnect(duration()?),
            other => {
                return Err(ConfigError::new(
                    at("kind"),
                    format!(
                        "{} (expected \"error\", \"fail\", \"stall\" or \"disconnect\")",
                        other.map_or("missing".to_string(), |s| format!("unknown kind {s:?}"))
                    ),
                ))
            }
        };
        out.push(Fault { at_tick, kind });
    }
    Ok(out)
}

/// The `synthetic` factory: a [`SyntheticSource`] from [`SYNTHETIC_PARAMS`].
///
/// # Errors
/// An unknown or mistyped parameter, or an invalid config, named by TOML key.
pub fn synthetic(
    spec: &SourceSpec,
    ctx: &SourceContext,
) -> Result<Box<dyn TickSource>, RegistryError> {
    let p = spec.params();
    p.only(SYNTHETIC_PARAMS)?;
    let d = SyntheticConfig::default();
    let source_id = match p.u64("source_id")? {
        None => ctx.source_id,
        Some(v) => u16::try_from(v)
            .map_err(|_| ConfigError::new(spec.key("source_id"), "must be at most 65535"))?,
    };
    let trade_per_mille = match p.u64("trade_per_mille")? {
        None => d.trade_per_mille,
        Some(v) => u32::try_from(v).unwrap_or(u32::MAX),
    };
    let cfg = SyntheticConfig {
        name: spec.name.clone(),
        symbols: spec.symbols.clone(),
        seed: p.u64("seed")?.unwrap_or(d.seed),
        rate: p.u64("rate")?,
        burst: p.u64("burst")?.unwrap_or(d.burst),
        trade_per_mille,
        start_price: price(spec, p, "start_price")?.unwrap_or(d.start_price),
        tick_size: price(spec, p, "tick_size")?.unwrap_or(d.tick_size),
        max_ticks: p.u64("max_ticks")?,
        source_id,
        faults: faults(spec, p)?,
        staleness_bound: p.u64("staleness_ms")?.map(Duration::from_millis),
        event_time: None,
        shared_sequence: false,
    };
    if spec.symbols.is_empty() {
        return Err(ConfigError::new(spec.key("symbols"), "no symbols configured").into());
    }
    cfg.validate().map_err(|e| rekey(spec, e))?;
    let src = SyntheticSource::new(cfg, ctx.symbols.clone()).map_err(|e| match e {
        crate::error::SourceError::Config { error, .. } => {
            RegistryError::Config(rekey(spec, error))
        }
        other => other.into(),
    })?;
    Ok(Box::new(src))
}

fn speed(spec: &SourceSpec, p: Params<'_>) -> Result<ReplaySpeed, ConfigError> {
    if let Ok(Some(s)) = p.str("speed") {
        return match s {
            "max" => Ok(ReplaySpeed::AsFastAsPossible),
            other => Err(ConfigError::new(
                spec.key("speed"),
                format!("unknown speed {other:?} (a positive number, or \"max\")"),
            )),
        };
    }
    match p.f64("speed")? {
        // The one default (see `ReplaySpeed`): as fast as possible, like `ReplayConfig`.
        None => Ok(ReplaySpeed::default()),
        Some(x) if x > 0.0 && x <= 1_000_000.0 => {
            let num = NonZeroU32::new((x * 1000.0).round() as u32).unwrap_or(NonZeroU32::MIN);
            let den = NonZeroU32::new(1000).unwrap_or(NonZeroU32::MIN);
            Ok(ReplaySpeed::Scaled { num, den })
        }
        Some(x) => Err(ConfigError::new(
            spec.key("speed"),
            format!("{x} is not in (0, 1000000]"),
        )),
    }
}

fn repeat(spec: &SourceSpec, p: Params<'_>) -> Result<Repeat, ConfigError> {
    if let Ok(Some(s)) = p.str("repeat") {
        return match s {
            "once" => Ok(Repeat::Once),
            "forever" => Ok(Repeat::Forever),
            other => Err(ConfigError::new(
                spec.key("repeat"),
                format!("unknown repeat {other:?} (\"once\", \"forever\" or a count)"),
            )),
        };
    }
    match p.u64("repeat")? {
        None => Ok(Repeat::Once),
        Some(n) => u32::try_from(n)
            .ok()
            .and_then(NonZeroU32::new)
            .map(Repeat::Times)
            .ok_or_else(|| ConfigError::new(spec.key("repeat"), "count must be in 1..=u32::MAX")),
    }
}

/// The `replay` factory: a [`ReplaySource`] over the tick file at `path`. `speed` is a
/// positive multiple of real time (`1` = recorded rate) or `"max"`; without it the replay runs
/// as fast as possible ([`ReplaySpeed::default`]).
///
/// # Errors
/// A missing `path`, an unknown or mistyped parameter (named by TOML key), or a file that
/// cannot be replayed (its path and offset).
pub fn replay(
    spec: &SourceSpec,
    ctx: &SourceContext,
) -> Result<Box<dyn TickSource>, RegistryError> {
    let p = spec.params();
    p.only(REPLAY_PARAMS)?;
    let path = p
        .str("path")?
        .ok_or_else(|| ConfigError::new(spec.key("path"), "missing (the tick file to replay)"))?;
    let d = ReplayConfig::default();
    let cfg = ReplayConfig {
        name: spec.name.clone(),
        speed: speed(spec, p)?,
        symbols: spec.symbols.clone(),
        from_ns: p.u64("from_ns")?,
        until_ns: p.u64("until_ns")?,
        repeat: repeat(spec, p)?,
        loop_gap_ns: p.u64("loop_gap_ns")?.unwrap_or(d.loop_gap_ns),
        stamp_recv: p.bool("stamp_recv")?.unwrap_or(d.stamp_recv),
    };
    Ok(Box::new(ReplaySource::open(
        path,
        ctx.symbols.clone(),
        cfg,
    )?))
}

/// The `tcp` factory: a [`TcpFeedSource`] reading the publisher at `addr` (`"ip:port"`).
///
/// Optional: `reconnect_ms` (back-off after a disconnect, default 100), `connect_timeout_ms`
/// (default 2000), `staleness_ms`, `read_buffer` (bytes, default 65536).
///
/// # Errors
/// A missing or unparsable `addr`, an unknown or mistyped parameter, or an invalid config,
/// named by TOML key.
pub fn tcp(spec: &SourceSpec, ctx: &SourceContext) -> Result<Box<dyn TickSource>, RegistryError> {
    let p = spec.params();
    p.only(TCP_PARAMS)?;
    let addr = p.str("addr")?.ok_or_else(|| {
        ConfigError::new(spec.key("addr"), "missing (the publisher's \"ip:port\")")
    })?;
    let addr = addr.parse().map_err(|e| {
        ConfigError::new(
            spec.key("addr"),
            format!(
                "{:?} is not an \"ip:port\" address ({e})",
                crate::error::bounded(addr)
            ),
        )
    })?;
    if spec.symbols.is_empty() {
        return Err(ConfigError::new(spec.key("symbols"), "no symbols configured").into());
    }
    let d = TcpFeedConfig::new(addr, &spec.symbols);
    let read_buffer = match p.u64("read_buffer")? {
        None => d.read_buffer,
        Some(v) => usize::try_from(v).unwrap_or(usize::MAX),
    };
    let cfg = TcpFeedConfig {
        name: spec.name.clone(),
        reconnect_backoff: p
            .u64("reconnect_ms")?
            .map_or(d.reconnect_backoff, Duration::from_millis),
        connect_timeout: p
            .u64("connect_timeout_ms")?
            .map_or(d.connect_timeout, Duration::from_millis),
        staleness_bound: p.u64("staleness_ms")?.map(Duration::from_millis),
        read_buffer,
        ..d
    };
    let rename = |e: ConfigError| {
        let field = match e.field.rsplit('.').next() {
            Some("connect_timeout") => "connect_timeout_ms",
            Some(other) => other,
            None => &e.field,
        };
        ConfigError::new(spec.key(field), e.reason)
    };
    cfg.validate().map_err(rename)?;
    let src = TcpFeedSource::new(cfg, ctx.symbols.clone()).map_err(|e| match e {
        crate::error::SourceError::Config { error, .. } => RegistryError::Config(rename(error)),
        other => other.into(),
    })?;
    Ok(Box::new(src))
}
