//! Tick files: a binary format that can be memory-mapped and replayed, and CSV at the edges.
//!
//! Layout: a 64-byte [`header`] (magic `MDPTICKS`, version, record size 64, counts, and
//! where the symbol table is), then `record_count` packed 64-byte little-endian records
//! ([`Tick::encode`](crate::Tick::encode)), then the symbol-table trailer ([`symbols`]) naming the
//! `u32` ids the records use. The trailer comes last so that a writer can stream records
//! without knowing how many there will be or which symbols they carry; it patches the header
//! when it finishes, then renames the `.partial` file into place.
//!
//! Every reader validates the header, the file length, the symbol table and each record, and
//! reports bad input as a [`DataError`](crate::DataError) naming the file and byte offset.
//!
//! Inputs and outputs are guarded the same way for every entry point: only regular files are
//! mapped, and what is read whole is read with a cap ([`input`]); an output replaces only a
//! regular file (or nothing), never one of the inputs, and becomes a finished file at its
//! path only when the caller says the run succeeded ([`output`]: `<path>.partial` until then).

pub mod csv;
pub mod header;
pub mod input;
pub mod output;
// The one module allowed `unsafe`: it memory-maps tick files (see `Backing::Mapped`).
#[allow(unsafe_code)]
pub mod reader;
pub mod symbols;
pub mod writer;

pub use csv::{
    csv_to_tick_file, tick_file_to_csv, CsvFileWriter, CsvReader, CsvWriter, CSV_HEADER,
};
pub use header::{FileHeader, HEADER_LEN, MAGIC, VERSION};
pub use output::{check_output, check_outputs, partial_path, OutputFile};
pub use reader::{Records, TickFile};
pub use symbols::FileSymbols;
pub use writer::{TickFileWriter, WriteSummary};
