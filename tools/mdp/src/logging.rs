//! `-v`/`-vv` and `--log-format`: the library's `tracing` events (state changes: breaker
//! transitions, router switches, cooldowns, pipelines started/stopped/failed, settings swaps)
//! printed to stderr as text or JSON lines.

use tracing_subscriber::EnvFilter;

/// How events are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, target, fields).
    Json,
}

/// Install the subscriber: no events by default (mdp reports errors and summaries itself, and
/// an error's message is the first line of stderr), `info` with `-v` (state changes, warnings
/// and errors), `debug` with `-vv` (`trace` beyond). `RUST_LOG`, when set, decides instead.
pub(crate) fn install(verbose: u8, format: LogFormat) {
    let level = match verbose {
        0 => "off",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second install (none happens) would fail; the first one stands.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
