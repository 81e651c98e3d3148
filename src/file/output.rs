//! Opening outputs and finishing them: an output is written to `<path>.partial` and moved to
//! `path` only when the run that wrote it succeeded.
//!
//! # What an output may replace
//! Nothing, or a regular file. A symbolic link (dangling or not), a directory, a FIFO, a
//! socket or a device at the output path is refused with an error saying what is there, so is
//! a name ending in `.partial` (reserved for unfinished outputs). An output that is one of the
//! run's inputs (the same path, a link to it or a hard link: compared by device and inode) is
//! refused before anything is opened for writing, and so are two outputs that are one file
//! ([`check_outputs`]).
//!
//! # Finish, or leave unfinished
//! [`OutputFile::create`] checks the path and creates `<path>.partial` (a stale regular
//! `.partial` from an earlier run is replaced; anything else there is refused). The caller
//! writes, then decides once the run is judged:
//! - [`OutputFile::commit`] when the run succeeded (a drained stop after an interruption
//!   counts as success): flush to disk, check the destination again, rename over `path`
//!   (atomically: readers of the old file keep it). On failure the `.partial` stays and the
//!   error names it.
//! - drop it (or [`OutputFile::leave_unfinished`]) when the run failed or was interrupted and
//!   not drained: `<path>.partial` stays, `path` is untouched.
//! - [`OutputFile::discard`] to remove the `.partial`.
//!
//! Formats with a place for it also mark the `.partial` itself unfinished (the tick-file header,
//! [`super::header`]), so it is refused even when renamed by hand; readers refuse `.partial`
//! names in any case.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::input::{describe, refused};
use crate::error::{DataError, DataErrorKind};

/// The suffix of an output that is not finished.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// `<path>.partial`: where an output is written until it is finished.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(PARTIAL_SUFFIX);
    PathBuf::from(name)
}

/// True when `path`'s name ends in `.partial` (an unfinished output).
pub fn is_partial_name(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with(PARTIAL_SUFFIX))
}

/// Identity of an existing file: (device, inode) where the platform has them.
fn identity(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// Whether the existing file `meta` (at `path`) is the file at `other`.
fn same_file(path: &Path, meta: &std::fs::Metadata, other: &Path) -> bool {
    let Ok(theirs) = std::fs::metadata(other) else {
        return false;
    };
    match (identity(meta), identity(&theirs)) {
        (Some(a), Some(b)) => a == b,
        _ => match (path.canonicalize(), other.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        },
    }
}

/// Check that `path` may be written as an output: nothing or a regular file is there, its
/// name does not end in `.partial`, and it is none of `inputs`. Nothing is opened.
///
/// # Errors
/// `Refused` saying what is there (or which input it is); `Io` when the path cannot be
/// examined.
pub fn check_output(path: &Path, inputs: &[&Path]) -> Result<(), DataError> {
    if is_partial_name(path) {
        let reason = format!(
            "an output name must not end in `{PARTIAL_SUFFIX}` (reserved for unfinished outputs)"
        );
        return Err(refused(path, reason));
    }
    if path.as_os_str().is_empty() {
        return Err(refused(path, "empty output path".to_string()));
    }
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return check_parent(path),
        Err(e) => return Err(DataError::io(&e).in_file(path)),
    };
    if !meta.file_type().is_file() {
        let what = describe(&meta.file_type());
        let reason = format!(
            "{what} is at the output path; an output replaces only a regular file (or nothing)"
        );
        return Err(refused(path, reason));
    }
    if let Some(input) = inputs.iter().find(|i| same_file(path, &meta, i)) {
        let reason = format!(
            "the output is the input {} (writing it would destroy what is being read)",
            input.display()
        );
        return Err(refused(path, reason));
    }
    Ok(())
}

/// A new output needs an existing directory: say so now rather than after the work.
fn check_parent(path: &Path) -> Result<(), DataError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => return Ok(()),
    };
    match std::fs::metadata(parent) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(meta) => {
            let what = describe(&meta.file_type());
            let reason = format!("{} is {what}, not a directory", parent.display());
            Err(refused(path, reason))
        }
        Err(e) => {
            let e = DataError::io(&e).in_file(path);
            Err(with_note(
                e,
                &format!("checking its directory {}", parent.display()),
            ))
        }
    }
}

/// Where an output will end up, for comparing two outputs that may not exist yet: the
/// existing file's identity, else its canonical directory and name.
fn destination(path: &Path) -> Option<(Option<(u64, u64)>, PathBuf)> {
    if let Ok(meta) = std::fs::metadata(path) {
        if let Some(id) = identity(&meta) {
            return Some((Some(id), PathBuf::new()));
        }
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some((None, parent.canonicalize().ok()?.join(path.file_name()?)))
}

/// [`check_output`] for each output, and no two outputs are the same file.
///
/// # Errors
/// As [`check_output`]; `Refused` naming both outputs when they are one file.
pub fn check_outputs(outputs: &[&Path], inputs: &[&Path]) -> Result<(), DataError> {
    for (i, out) in outputs.iter().enumerate() {
        check_output(out, inputs)?;
        let here = destination(out);
        for earlier in &outputs[..i] {
            if here.is_some() && here == destination(earlier) {
                let reason = format!("the same file as the output {}", earlier.display());
                return Err(refused(out, reason));
            }
        }
    }
    Ok(())
}

/// `e` with `note` added to its message (I/O and refusals; other kinds are kept as they are).
pub(crate) fn with_note(mut e: DataError, note: &str) -> DataError {
    match &mut e.kind {
        DataErrorKind::Io { message, .. } | DataErrorKind::Refused(message) => {
            message.push_str("; ");
            message.push_str(note);
        }
        _ => {}
    }
    e
}

/// An output being written to `<path>.partial`; see the [module docs](self).
#[derive(Debug)]
pub struct OutputFile {
    path: PathBuf,
    partial: PathBuf,
    file: File,
    committed: bool,
}

impl OutputFile {
    /// Check `path` ([`check_output`] against `inputs`) and create `<path>.partial`.
    ///
    /// # Errors
    /// As [`check_output`]; `Refused` when something other than a regular file is at the
    /// `.partial` path; `Io` naming the `.partial` path.
    pub fn create(path: impl AsRef<Path>, inputs: &[&Path]) -> Result<OutputFile, DataError> {
        let path = path.as_ref().to_path_buf();
        check_output(&path, inputs)?;
        let partial = partial_path(&path);
        let io = |e: std::io::Error| DataError::io(&e).in_file(&partial);
        match std::fs::symlink_metadata(&partial) {
            Ok(meta) if inputs.iter().any(|i| same_file(&partial, &meta, i)) => {
                let reason = "one of the inputs is where the unfinished output would go";
                return Err(refused(&partial, reason.to_string()));
            }
            Ok(meta) if meta.file_type().is_file() => std::fs::remove_file(&partial).map_err(io)?,
            Ok(meta) => {
                let what = describe(&meta.file_type());
                let reason = format!("{what} is where the unfinished output would go");
                return Err(refused(&partial, reason));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        // create_new: fails on anything that appeared in between, links included.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)
            .map_err(io)?;
        Ok(OutputFile {
            path,
            partial,
            file,
            committed: false,
        })
    }

    /// Where the output goes when committed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where it is written until then.
    pub fn partial_path(&self) -> &Path {
        &self.partial
    }

    /// True once [`commit`](Self::commit) succeeded.
    pub fn is_committed(&self) -> bool {
        self.committed
    }

    /// Bytes written so far (the `.partial` file's length).
    ///
    /// # Errors
    /// `Io` naming the `.partial` path.
    pub fn written(&self) -> Result<u64, DataError> {
        let meta = self.file.metadata();
        Ok(meta
            .map_err(|e| DataError::io(&e).in_file(&self.partial))?
            .len())
    }

    /// Put the output in place: sync its bytes to disk, check that the destination still holds
    /// nothing or a regular file, and rename `<path>.partial` over `path`.
    ///
    /// # Errors
    /// `Io` or `Refused` naming the path; the `.partial` file stays (the caller may mark it
    /// unfinished) and the message says where it is.
    pub fn commit(&mut self) -> Result<(), DataError> {
        let partial = self.partial.display().to_string();
        let left = |e: DataError| {
            let note = format!("the unfinished output is left at {partial}");
            with_note(e, &note).in_file(&self.path)
        };
        self.file.sync_all().map_err(|e| left(DataError::io(&e)))?;
        check_output(&self.path, &[]).map_err(left)?;
        std::fs::rename(&self.partial, &self.path).map_err(|e| left(DataError::io(&e)))?;
        self.committed = true;
        // The rename reaches the disk with the directory; a failure here leaves a finished
        // file in place, so it is not reported as a failed output.
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// Leave the output unfinished at `<path>.partial` (also what dropping does); gives that
    /// path.
    pub fn leave_unfinished(self) -> PathBuf {
        self.partial.clone()
    }

    /// Remove the `.partial` file (nothing when already committed).
    ///
    /// # Errors
    /// `Io` naming the `.partial` path.
    pub fn discard(self) -> Result<(), DataError> {
        if self.committed {
            return Ok(());
        }
        std::fs::remove_file(&self.partial).map_err(|e| DataError::io(&e).in_file(&self.partial))
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Seek for OutputFile {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.file.seek(pos)
    }
}
