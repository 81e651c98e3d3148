//! Error families, mirroring the original's (source, operator, batcher, sink, pacing,
//! configuration). Each says what failed and where.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::tick::TickDecodeError;

/// Text up to this many bytes appears whole in an error message.
pub const SHOWN_WHOLE: usize = 96;
/// Longer text shows this many characters, then `… (N bytes)`.
pub const SHOWN_PREFIX: usize = 64;

/// User-provided text (a symbol name, a key, a path) as an error message shows it: whole up
/// to [`SHOWN_WHOLE`] bytes, otherwise its first [`SHOWN_PREFIX`] characters then
/// `… (N bytes)`, so a 50 MB name does not become a 50 MB message. `{}` shows the text, `{:?}`
/// quotes and escapes it (the shown part only). Every error of the library that carries such
/// text formats it through this.
///
/// ```
/// use market_data_pipeline::error::bounded;
/// assert_eq!(bounded("AAPL").to_string(), "AAPL");
/// assert_eq!(format!("{:?}", bounded("AAPL")), "\"AAPL\"");
/// let huge = "X".repeat(1_000);
/// assert_eq!(bounded(&huge).to_string(), format!("{}… (1000 bytes)", "X".repeat(64)));
/// ```
pub fn bounded(text: &str) -> Bounded<'_> {
    Bounded(text)
}

/// See [`bounded`].
#[derive(Clone, Copy)]
pub struct Bounded<'a>(&'a str);

impl<'a> Bounded<'a> {
    /// The part shown, and whether it is all of it.
    fn shown(&self) -> (&'a str, bool) {
        if self.0.len() <= SHOWN_WHOLE {
            return (self.0, true);
        }
        let end = self
            .0
            .char_indices()
            .nth(SHOWN_PREFIX)
            .map_or(self.0.len(), |(i, _)| i);
        (&self.0[..end], end == self.0.len())
    }
}

impl fmt::Display for Bounded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.shown() {
            (all, true) => f.write_str(all),
            (head, false) => write!(f, "{head}… ({} bytes)", self.0.len()),
        }
    }
}

impl fmt::Debug for Bounded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.shown() {
            (all, true) => write!(f, "{all:?}"),
            (head, false) => write!(f, "{head:?}… ({} bytes)", self.0.len()),
        }
    }
}

/// A list of user-provided names as an error message shows it: the first
/// [`SHOWN_ITEMS`] (each [`bounded`]), then `… (N in all)`.
///
/// ```
/// use market_data_pipeline::error::bounded_list;
/// let names: Vec<String> = (0..100).map(|i| format!("p{i}")).collect();
/// assert_eq!(
///     bounded_list(&names).to_string(),
///     "p0, p1, p2, p3, p4, p5, p6, p7, … (100 in all)"
/// );
/// ```
pub fn bounded_list<S: AsRef<str>>(items: &[S]) -> BoundedList<'_, S> {
    BoundedList(items)
}

/// Names of a list shown before `… (N in all)`.
pub const SHOWN_ITEMS: usize = 8;

/// See [`bounded_list`].
#[derive(Debug)]
pub struct BoundedList<'a, S>(&'a [S]);

impl<S: AsRef<str>> fmt::Display for BoundedList<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.0.iter().take(SHOWN_ITEMS).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", bounded(item.as_ref()))?;
        }
        if self.0.len() > SHOWN_ITEMS {
            write!(f, ", … ({} in all)", self.0.len())?;
        }
        Ok(())
    }
}

/// A configuration value that cannot be used. Names the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {}: {reason}", bounded(.field))]
pub struct ConfigError {
    /// Dotted path of the field (`pipeline.batcher.max_rows`, `providers.ibkr.capacity`).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    /// A new error for `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Where in a file or stream bad data was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataLocation {
    /// Not tied to a position.
    Unknown,
    /// A byte offset from the start of the file.
    Offset(u64),
    /// A 1-based line (and optional 1-based column) of a text file.
    Line {
        /// Line number, from 1.
        line: u64,
        /// Column (field) number, from 1.
        column: Option<u32>,
    },
}

impl fmt::Display for DataLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataLocation::Unknown => Ok(()),
            DataLocation::Offset(o) => write!(f, "byte offset {o}"),
            DataLocation::Line { line, column: None } => write!(f, "line {line}"),
            DataLocation::Line {
                line,
                column: Some(c),
            } => write!(f, "line {line}, field {c}"),
        }
    }
}

/// What is wrong with some data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataErrorKind {
    /// An I/O error.
    #[error("I/O error ({kind:?}): {message}")]
    Io {
        /// The I/O error kind.
        kind: std::io::ErrorKind,
        /// The OS message.
        message: String,
    },
    /// The file does not start with the expected magic bytes.
    #[error("wrong magic {found:02x?} (not a tick file)")]
    BadMagic {
        /// The bytes found.
        found: Vec<u8>,
    },
    /// A format version this build cannot read.
    #[error("unsupported version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// The version found.
        found: u32,
        /// The version supported.
        supported: u32,
    },
    /// The header declares a record size other than 64.
    #[error("record size {found} (expected 64)")]
    BadRecordSize {
        /// The declared size.
        found: u32,
    },
    /// The data ends early.
    #[error("truncated: needed {needed} bytes, {available} available")]
    Truncated {
        /// Bytes needed.
        needed: u64,
        /// Bytes present.
        available: u64,
    },
    /// The header is inconsistent.
    #[error("bad header: {0}")]
    BadHeader(String),
    /// A record does not decode.
    #[error("bad record: {0}")]
    BadRecord(TickDecodeError),
    /// A field that does not parse or is out of range.
    #[error("bad field {}: {reason}", bounded(.field))]
    BadField {
        /// Field name.
        field: String,
        /// Why.
        reason: String,
    },
    /// A symbol id not in the symbol table.
    #[error("unknown symbol id {0}")]
    UnknownSymbol(u32),
    /// A file's symbol table is malformed (bad name, duplicate, bad length).
    #[error("bad symbol table: {0}")]
    BadSymbolTable(String),
    /// The path holds something that must not be used here: a directory, FIFO, socket,
    /// device or link where a regular file is needed, or an output that is also an input.
    #[error("refused: {0}")]
    Refused(String),
    /// More data than the reader accepts.
    #[error("larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// A recording that its writer never finished (the run failed or was interrupted).
    #[error("unfinished recording: {0}")]
    Unfinished(String),
}

/// Bad input data: what, and where (file and offset or line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    /// The file, when there is one.
    pub path: Option<PathBuf>,
    /// Where in it.
    pub at: DataLocation,
    /// What is wrong.
    pub kind: DataErrorKind,
}

impl DataError {
    /// An error at `at` (no path yet).
    pub fn new(at: DataLocation, kind: DataErrorKind) -> DataError {
        DataError {
            path: None,
            at,
            kind,
        }
    }

    /// Attach the file path.
    pub fn in_file(mut self, path: impl Into<PathBuf>) -> DataError {
        self.path = Some(path.into());
        self
    }

    /// From an I/O error.
    pub fn io(e: &std::io::Error) -> DataError {
        DataError::new(
            DataLocation::Unknown,
            DataErrorKind::Io {
                kind: e.kind(),
                message: e.to_string(),
            },
        )
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "{}: ", bounded(&p.to_string_lossy()))?;
        }
        if self.at != DataLocation::Unknown {
            write!(f, "{}: ", self.at)?;
        }
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for DataError {}

/// A source failed. `is_retryable` tells a router whether the source may come back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// No symbols to produce.
    #[error("source {}: no symbols configured", bounded(.source_name))]
    NoSymbols {
        /// Source name.
        source_name: String,
    },
    /// The connection dropped; the source may reconnect.
    #[error("source {}: disconnected: {reason}", bounded(.source_name))]
    Disconnected {
        /// Source name.
        source_name: String,
        /// Why.
        reason: String,
    },
    /// The source failed; it may recover.
    #[error("source {}: failed: {reason}", bounded(.source_name))]
    Failed {
        /// Source name.
        source_name: String,
        /// Why.
        reason: String,
    },
    /// Bad data read by the source (not retryable).
    #[error("source {}: {error}", bounded(.source_name))]
    Data {
        /// Source name.
        source_name: String,
        /// The data error.
        error: DataError,
    },
    /// The source's configuration is invalid.
    #[error("source {}: {error}", bounded(.source_name))]
    Config {
        /// Source name.
        source_name: String,
        /// The configuration error.
        error: ConfigError,
    },
    /// `poll` before `start`, or after `close`.
    #[error("source {}: not running ({state})", bounded(.source_name))]
    NotRunning {
        /// Source name.
        source_name: String,
        /// The state it is in.
        state: &'static str,
    },
    /// Every source behind a router failed for good (not retryable): the stream did not end,
    /// it was lost.
    #[error("source {source_name}: all sources failed: {}", failures.join("; "))]
    AllFailed {
        /// The router's name.
        source_name: String,
        /// Each source and its last error (`"<name>: <error>"`), in priority order.
        failures: Vec<String>,
    },
}

impl SourceError {
    /// Whether trying the same source again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SourceError::Disconnected { .. } | SourceError::Failed { .. }
        )
    }
}

/// An operator refused its input or configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OperatorError {
    /// Invalid configuration.
    #[error("operator {operator}: {error}")]
    Config {
        /// Operator name.
        operator: &'static str,
        /// The error.
        error: ConfigError,
    },
}

/// A batcher refused its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatcherError {
    /// Invalid configuration.
    #[error("batcher: {0}")]
    Config(ConfigError),
}

/// A sink failed to write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// An I/O failure writing `path`.
    #[error("sink {sink}: {}: {message}", bounded(.path))]
    Io {
        /// Sink name.
        sink: &'static str,
        /// The file.
        path: String,
        /// The OS message.
        message: String,
    },
    /// The consumer went away (e.g. the user dropped the iterator).
    #[error("sink {sink}: consumer closed")]
    Closed {
        /// Sink name.
        sink: &'static str,
    },
    /// Any other failure reported by a user sink.
    #[error("sink {sink}: {message}")]
    Failed {
        /// Sink name.
        sink: &'static str,
        /// What happened.
        message: String,
    },
}

/// Pacing and rate limiting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacingError {
    /// More tokens asked for than the bucket can ever hold.
    #[error("request of {requested} tokens exceeds capacity {capacity}")]
    ExceedsCapacity {
        /// Tokens requested.
        requested: u64,
        /// Bucket capacity.
        capacity: u64,
    },
    /// Not now: try again after this long.
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited {
        /// Earliest time a retry can succeed.
        retry_after: Duration,
    },
    /// The budget is scaled to zero (backpressure): nothing passes until the scale is raised.
    #[error("admission suspended (budget scaled to 0)")]
    Suspended,
}

/// Anything that can stop a pipeline from being built or from running.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// Source family.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Operator family.
    #[error(transparent)]
    Operator(#[from] OperatorError),
    /// Batcher family.
    #[error(transparent)]
    Batcher(#[from] BatcherError),
    /// Sink family.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// Pacing family.
    #[error(transparent)]
    Pacing(#[from] PacingError),
    /// Configuration family.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A worker thread could not be started or panicked.
    #[error("worker {}: {reason}", bounded(.worker))]
    Worker {
        /// Worker name.
        worker: String,
        /// What happened.
        reason: String,
    },
}
