//! Reading [`PipelineRuntimeSettings`] from TOML: syntax and type errors carry the line and
//! column; invalid values carry the key path and, where it can be found, the line.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{ConfigError, DataError};
use crate::file::input::read_capped;
use crate::pipeline::PipelineSettings;
use crate::registry::SourceSpec;
use crate::ring::Backpressure;
use crate::runtime::error::SettingsError;
use crate::runtime::settings::{PipelineRuntimeSettings, ProviderSettings};
use crate::runtime::spec::{OperatorSpec, PipelineSpec};

/// The largest settings file [`PipelineRuntimeSettings::from_file`] reads: 16 MiB (a real one
/// is a few KiB).
pub const MAX_SETTINGS_BYTES: u64 = 16 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    orchestration_enabled: Option<bool>,
    max_concurrent_pipelines: Option<usize>,
    enable_rate_coordination: Option<bool>,
    circuit_breaker_threshold: Option<u32>,
    circuit_breaker_timeout_sec: Option<f64>,
    routing_strategy: Option<String>,
    routing_hold_down_ms: Option<u64>,
    routing_staleness_ms: Option<u64>,
    default_sources: Option<Vec<String>>,
    #[serde(default)]
    providers: BTreeMap<String, toml::Table>,
    pipeline: Option<RawDefaults>,
    #[serde(default)]
    pipelines: Vec<RawPipeline>,
    workers: Option<usize>,
    coordination: Option<toml::Table>,
    metrics_addr: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    ring_capacity: Option<usize>,
    chunk_size: Option<usize>,
    backpressure: Option<String>,
    batch_rows: Option<usize>,
    batch_age_ms: Option<u64>,
    stream_capacity: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    tenant_id: String,
    pipeline_id: String,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    symbols: Vec<String>,
    operator: Option<String>,
    bar_window_ms: Option<u64>,
    max_ticks: Option<u64>,
    dedicated: Option<bool>,
    singleton: Option<bool>,
}

/// A `[providers.<name>]` section: the provider's own keys (`kind`, `symbols`, `request_based`,
/// `capacity`, `refill_rate`, `cooldown_sec`, `breaker_threshold`, `breaker_timeout`); the
/// rest are the source's parameters.
fn provider(name: &str, mut t: toml::Table) -> Result<ProviderSettings, ConfigError> {
    let key = |k: &str| format!("providers.{name}.{k}");
    let wrong = |k: &str, what: &str, v: &toml::Value| {
        ConfigError::new(
            key(k),
            format!("expected {what}, found {} {v}", v.type_str()),
        )
    };
    let kind = match t.remove("kind") {
        Some(toml::Value::String(s)) => s,
        Some(v) => return Err(wrong("kind", "a string", &v)),
        None => {
            return Err(ConfigError::new(
                key("kind"),
                "missing (e.g. kind = \"synthetic\")",
            ))
        }
    };
    let symbols = match t.remove("symbols") {
        None => Vec::new(),
        Some(toml::Value::Array(a)) => a
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                toml::Value::String(s) => Ok(s),
                v => Err(wrong(&format!("symbols[{i}]"), "a string", &v)),
            })
            .collect::<Result<_, _>>()?,
        Some(v) => return Err(wrong("symbols", "an array of strings", &v)),
    };
    let mut int = |k: &str| -> Result<Option<u64>, ConfigError> {
        match t.remove(k) {
            None => Ok(None),
            Some(toml::Value::Integer(i)) if i >= 0 => Ok(Some(i as u64)),
            Some(v) => Err(wrong(k, "a non-negative integer", &v)),
        }
    };
    let capacity = int("capacity")?;
    let refill_rate = int("refill_rate")?;
    let breaker_threshold = int("breaker_threshold")?
        .map(|v| {
            u32::try_from(v).map_err(|_| ConfigError::new(key("breaker_threshold"), "too large"))
        })
        .transpose()?;
    let cooldown_sec = match t.remove("cooldown_sec") {
        None => None,
        Some(toml::Value::Float(f)) => Some(f),
        Some(toml::Value::Integer(i)) => Some(i as f64),
        Some(v) => return Err(wrong("cooldown_sec", "a number of seconds", &v)),
    };
    let breaker_timeout = match t.remove("breaker_timeout") {
        None => None,
        Some(toml::Value::Float(f)) => Some(f),
        Some(toml::Value::Integer(i)) => Some(i as f64),
        Some(v) => return Err(wrong("breaker_timeout", "a number of seconds", &v)),
    };
    let request_based = match t.remove("request_based") {
        None => false,
        Some(toml::Value::Boolean(b)) => b,
        Some(v) => return Err(wrong("request_based", "true or false", &v)),
    };
    Ok(ProviderSettings {
        source: SourceSpec {
            name: name.to_string(),
            kind,
            symbols,
            params: t,
        },
        request_based,
        capacity,
        refill_rate,
        cooldown_sec,
        breaker_threshold,
        breaker_timeout,
    })
}

fn operator(i: usize, p: &RawPipeline) -> Result<OperatorSpec, ConfigError> {
    match p.operator.as_deref() {
        None | Some("passthrough") => Ok(OperatorSpec::Passthrough),
        Some("bars") => {
            let window = Duration::from_millis(p.bar_window_ms.unwrap_or(1_000));
            // Checked here so the error names the key in the file (a window of u64::MAX ms
            // once hung the bar stage).
            crate::operator::BarConfig::new(window, Duration::ZERO)
                .validate()
                .map_err(|e| ConfigError::new(format!("pipelines[{i}].bar_window_ms"), e.reason))?;
            Ok(OperatorSpec::Bars { window })
        }
        Some(other) => Err(ConfigError::new(
            format!("pipelines[{i}].operator"),
            format!(
                "unknown operator {:?} (known: passthrough, bars)",
                crate::error::bounded(other)
            ),
        )),
    }
}

fn convert(raw: RawSettings) -> Result<PipelineRuntimeSettings, ConfigError> {
    let d = PipelineRuntimeSettings::default();
    let providers = if raw.providers.is_empty() {
        d.providers
    } else {
        raw.providers
            .into_iter()
            .map(|(name, t)| provider(&name, t).map(|p| (name, p)))
            .collect::<Result<_, _>>()?
    };
    let default_sources = match raw.default_sources {
        Some(v) => v,
        None if providers.len() == 1 => providers.keys().cloned().collect(),
        None => {
            return Err(ConfigError::new(
                "default_sources",
                "missing: with several providers, list them in priority order",
            ))
        }
    };
    let dd = PipelineSettings::default();
    let pipeline = match raw.pipeline {
        None => dd,
        Some(p) => PipelineSettings {
            ring_capacity: p.ring_capacity.or(dd.ring_capacity),
            chunk_size: p.chunk_size.unwrap_or(dd.chunk_size),
            backpressure: match p.backpressure {
                None => dd.backpressure,
                Some(s) => Backpressure::parse(&s)
                    .map_err(|e| ConfigError::new("pipeline.backpressure", e.reason))?,
            },
            batch_rows: p.batch_rows.unwrap_or(dd.batch_rows),
            batch_age: p.batch_age_ms.map_or(dd.batch_age, Duration::from_millis),
            stream_capacity: p.stream_capacity.unwrap_or(dd.stream_capacity),
            ..dd
        },
    };
    let pipelines = raw
        .pipelines
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Ok(PipelineSpec {
                tenant_id: p.tenant_id.clone(),
                pipeline_id: p.pipeline_id.clone(),
                sources: p.sources.clone(),
                symbols: p.symbols.clone(),
                operator: operator(i, p)?,
                max_ticks: p.max_ticks,
                dedicated: p.dedicated.unwrap_or(false),
                singleton: p.singleton.unwrap_or(false),
            })
        })
        .collect::<Result<_, ConfigError>>()?;
    let coordination = raw
        .coordination
        .map(|t| toml::to_string(&t))
        .transpose()
        .map_err(|e| ConfigError::new("coordination", e.to_string()))?;
    Ok(PipelineRuntimeSettings {
        coordination,
        orchestration_enabled: raw.orchestration_enabled.unwrap_or(d.orchestration_enabled),
        max_concurrent_pipelines: raw
            .max_concurrent_pipelines
            .unwrap_or(d.max_concurrent_pipelines),
        enable_rate_coordination: raw
            .enable_rate_coordination
            .unwrap_or(d.enable_rate_coordination),
        circuit_breaker_threshold: raw
            .circuit_breaker_threshold
            .unwrap_or(d.circuit_breaker_threshold),
        circuit_breaker_timeout_sec: raw
            .circuit_breaker_timeout_sec
            .unwrap_or(d.circuit_breaker_timeout_sec),
        routing_strategy: match raw.routing_strategy {
            None => d.routing_strategy,
            Some(s) => s
                .parse()
                .map_err(|e: ConfigError| ConfigError::new("routing_strategy", e.reason))?,
        },
        routing_hold_down_ms: raw.routing_hold_down_ms.unwrap_or(d.routing_hold_down_ms),
        routing_staleness_ms: raw.routing_staleness_ms.unwrap_or(d.routing_staleness_ms),
        default_sources,
        providers,
        pipeline,
        pipelines,
        workers: raw.workers.unwrap_or(d.workers),
        metrics_addr: raw.metrics_addr,
    })
}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// Segments of a key path: `pipelines[1].sources[0]` → `[("pipelines", Some(1)), ("sources", Some(0))]`.
fn segments(path: &str) -> Vec<(&str, Option<usize>)> {
    path.split('.')
        .map(|s| match s.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse().ok()),
            None => (s, None),
        })
        .collect()
}

/// The line (1-based) where the key `path` is written, if it can be found: the longest table
/// header that is a prefix of the path, then the key's line in that table. A key that is not
/// written (a missing field) is located at its table's header.
pub(crate) fn locate(text: &str, path: &str) -> Option<usize> {
    locate_key(text, path).or_else(|| {
        let (parent, _) = path.rsplit_once('.')?;
        locate(text, parent)
    })
}

fn locate_key(text: &str, path: &str) -> Option<usize> {
    let segs = segments(path);
    for k in (0..segs.len()).rev() {
        let header: Vec<&str> = segs[..k].iter().map(|s| s.0).collect();
        let header = header.join(".");
        let want_index = if k > 0 { segs[k - 1].1 } else { None };
        let key = segs[k].0;
        let mut current = String::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut index = None;
        for (n, line) in text.lines().enumerate() {
            let l = line.trim();
            if let Some(h) = l.strip_prefix("[[").and_then(|r| r.split_once("]]")) {
                current = h.0.trim().to_string();
                let c = seen.entry(current.clone()).or_insert(0);
                index = Some(*c);
                *c += 1;
                if current == path {
                    return Some(n + 1);
                }
                continue;
            }
            if let Some(h) = l.strip_prefix('[').and_then(|r| r.split_once(']')) {
                current = h.0.trim().to_string();
                index = None;
                if current == path {
                    return Some(n + 1);
                }
                continue;
            }
            let in_table = current == header && (want_index.is_none() || want_index == index);
            let is_key = l
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='));
            if in_table && is_key {
                return Some(n + 1);
            }
        }
    }
    None
}

impl PipelineRuntimeSettings {
    /// Parse and validate settings from TOML text.
    ///
    /// ```
    /// use market_data_pipeline::runtime::PipelineRuntimeSettings;
    /// let s = PipelineRuntimeSettings::from_toml_str(r#"
    /// max_concurrent_pipelines = 4
    /// [providers.primary]
    /// kind = "synthetic"
    /// symbols = ["AAPL"]
    /// rate = 1000000
    /// "#).unwrap();
    /// assert_eq!(s.max_concurrent_pipelines, 4);
    /// assert_eq!(s.default_sources, ["primary"]);
    ///
    /// let e = PipelineRuntimeSettings::from_toml_str("max_concurrent_pipelines = 0").unwrap_err();
    /// assert_eq!(e.to_string(), "line 1: invalid configuration: max_concurrent_pipelines: must be greater than 0");
    /// ```
    ///
    /// # Errors
    /// [`SettingsError::Parse`] (with line and column) for malformed TOML, unknown keys and
    /// wrong types; [`SettingsError::Invalid`] (key path, and the line when found) for values
    /// that do not validate.
    pub fn from_toml_str(text: &str) -> Result<PipelineRuntimeSettings, SettingsError> {
        let raw: RawSettings = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((0, 0), |s| line_col(text, s.start));
            SettingsError::Parse {
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        let invalid = |error: ConfigError| SettingsError::Invalid {
            line: locate(text, &error.field),
            error,
        };
        let settings = convert(raw).map_err(invalid)?;
        settings.validate().map_err(invalid)?;
        Ok(settings)
    }

    /// Read, parse and validate a TOML file.
    ///
    /// At most [`MAX_SETTINGS_BYTES`] are read: a pipe or a device (`/dev/zero`) is read up to
    /// that cap, never without end; a directory is refused.
    ///
    /// # Errors
    /// [`SettingsError::Io`] naming the file (unreadable, too large, not UTF-8), or as
    /// [`from_toml_str`](Self::from_toml_str) (with the file named).
    pub fn from_file(path: impl AsRef<Path>) -> Result<PipelineRuntimeSettings, SettingsError> {
        Self::from_file_text(path.as_ref()).map(|(settings, _)| settings)
    }

    /// [`from_file`](Self::from_file), also giving the text read: a file is read once (a
    /// FIFO cannot be read twice).
    pub(crate) fn from_file_text(
        path: &Path,
    ) -> Result<(PipelineRuntimeSettings, String), SettingsError> {
        let io = |message: String| SettingsError::Io {
            path: path.display().to_string(),
            message,
        };
        let bytes = read_capped(path, MAX_SETTINGS_BYTES)
            .map_err(|e| io(DataError { path: None, ..e }.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            io(format!("byte offset {at}: not UTF-8 text"))
        })?;
        let settings =
            PipelineRuntimeSettings::from_toml_str(&text).map_err(|e| SettingsError::InFile {
                path: path.display().to_string(),
                error: Box::new(e),
            })?;
        Ok((settings, text))
    }
}
