//! Outputs of `mdp`: checked before any work starts, written to `<path>.partial`, and put in
//! place only when the command succeeded.
//!
//! Every output path goes through [`check`] first (the library's rules: nothing or a regular
//! file may be replaced, never an input, never a link, FIFO, device or directory; two outputs
//! may not be one file), so a refused output costs no work. Then:
//! - `gen` writes through a [`Recorder`]; `replay --out/--csv` through a sink whose
//!   [`Recording`] it keeps.
//! - When the command succeeded the caller calls [`Recorder::finish`] / [`conclude`] with
//!   `succeeded = true`; the file is completed, synced and renamed, and only then "recorded to
//!   X" is printed.
//! - Otherwise the output is left unfinished at `<path>.partial` (the tick-file header says
//!   so; every reader refuses it) and the error names that path. An interrupted command (SIGINT
//!   or SIGTERM, see [`crate::signal`]) is not a success, even when it drained cleanly: its
//!   output is left unfinished too.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Result};
use market_data_pipeline::file::{check_outputs, CsvFileWriter, OutputFile};
use market_data_pipeline::sink::{Recording, RecordingSummary};
use market_data_pipeline::symbol::SymbolNames;
use market_data_pipeline::{SymbolTable, Tick, TickFileWriter};

/// Refuse outputs that may not be written (see the module docs) before any work is done.
pub(crate) fn check(outputs: &[&Path], inputs: &[&Path]) -> Result<()> {
    Ok(check_outputs(outputs, inputs)?)
}

/// Whether `path` names a CSV output (by its extension).
pub(crate) fn is_csv(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// A file `mdp` writes tick by tick: a tick file, or CSV when the name ends in `.csv`.
pub(crate) enum Recorder {
    /// A tick file.
    Ticks(TickFileWriter),
    /// CSV, with the names of the symbol ids.
    Csv(CsvFileWriter, SymbolNames),
}

impl Recorder {
    /// Check `path` and start writing `<path>.partial`.
    pub(crate) fn create(path: &Path, table: Arc<SymbolTable>) -> Result<Recorder> {
        Ok(if is_csv(path) {
            Recorder::Csv(CsvFileWriter::create(path, &[])?, SymbolNames::new(table))
        } else {
            Recorder::Ticks(TickFileWriter::create(path, table)?)
        })
    }

    /// Append ticks (errors name the `.partial` file).
    pub(crate) fn write(&mut self, ticks: &[Tick]) -> Result<()> {
        match self {
            Recorder::Ticks(w) => w.write_all(ticks)?,
            Recorder::Csv(w, names) => {
                for t in ticks {
                    let name = names
                        .get(t.symbol)
                        .ok_or_else(|| anyhow!("symbol id {} has no name", t.symbol.0))?;
                    w.write(t, name)?;
                }
            }
        }
        Ok(())
    }

    fn partial(&self) -> PathBuf {
        match self {
            Recorder::Ticks(w) => w.partial_path().to_path_buf(),
            Recorder::Csv(w, _) => w.partial_path().to_path_buf(),
        }
    }

    /// The command succeeded: finish the file (completed, synced, renamed into place).
    pub(crate) fn finish(self) -> Result<RecordingSummary> {
        Ok(match self {
            Recorder::Ticks(w) => {
                let s = w.finish()?;
                RecordingSummary {
                    records: s.records,
                    bytes: s.bytes,
                }
            }
            Recorder::Csv(w, _) => {
                let records = w.rows();
                let bytes = w.finish()?;
                RecordingSummary { records, bytes }
            }
        })
    }

    /// The command failed: leave `<path>.partial` unfinished; `error` then says where it is.
    pub(crate) fn fail(self, error: anyhow::Error) -> anyhow::Error {
        let partial = self.partial();
        drop(self);
        error.context(unfinished_note(&partial))
    }
}

fn unfinished_note(partial: &Path) -> String {
    format!(
        "the output is left unfinished at {} (readers refuse it)",
        partial.display()
    )
}

/// After a run that wrote through a sink: finish `recording` when the run `succeeded` and
/// say where it went (on stderr when stdout carries `json`); otherwise leave it unfinished
/// and give the note for the error.
pub(crate) fn conclude(
    recording: &Recording,
    succeeded: bool,
    json: bool,
) -> Result<Option<String>> {
    if !succeeded {
        return Ok(recording
            .leave_unfinished()
            .map(|partial| unfinished_note(&partial)));
    }
    let s = recording.finish()?;
    let line = format!(
        "recorded {} records, {} bytes to {}",
        s.records,
        s.bytes,
        recording.path().display()
    );
    if json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
    Ok(None)
}

/// Write a small text file (checked, `.partial`, renamed).
pub(crate) fn write_text(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut f = OutputFile::create(path, &[])?;
    if let Err(e) = f.write_all(text.as_bytes()) {
        let e = anyhow!("{}: {e}", f.partial_path().display());
        let _ = f.discard();
        return Err(e);
    }
    f.commit()?;
    Ok(())
}
