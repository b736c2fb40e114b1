//! Point tables (点表): a vendor's or integrator's spreadsheet of points ↔ the
//! `[[devices.points]]` of a device map.
//!
//! - [`sheet`]: a CSV file or one sheet of a workbook as text cells with their row numbers;
//! - [`columns`]: which column is which, from Chinese or English headers;
//! - [`import`](mod@import): cells → points, every bad cell reported, Modicon addresses converted;
//! - [`render`]: points → TOML;
//! - [`export`]: a device's points → an xlsx the customer signs off.

pub mod columns;
pub mod export;
pub mod import;
pub mod render;
pub mod sheet;

use std::fmt;
use std::path::PathBuf;

pub use import::{import, Imported, ImportedPoint};

/// One cell that could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadCell {
    /// Sheet name (the file name for CSV).
    pub sheet: String,
    /// 1-based row, as the spreadsheet shows it.
    pub row: usize,
    /// Column letter (`-` when the column is missing altogether).
    pub column: String,
    /// The column's header.
    pub header: String,
    /// What is wrong, quoting the cell.
    pub message: String,
}

impl fmt::Display for BadCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sheet {}, row {}, column {} ({}): {}",
            self.sheet, self.row, self.column, self.header, self.message
        )
    }
}

/// Why a table could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read as a table.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No row in the first ten has both a name and an address column.
    #[error(
        "sheet {sheet}: no header row found (the first 10 rows need a name column such as \
         名称/点位名/name and an address column such as 地址/address)"
    )]
    NoHeader {
        /// The sheet.
        sheet: String,
    },
    /// Cells that could not be taken, all of them.
    #[error("{} bad cell(s):\n{}", .0.len(), .0.iter().map(|c| format!("  {c}")).collect::<Vec<_>>().join("\n"))]
    BadCells(Vec<BadCell>),
    /// The table has no rows for the device.
    #[error(
        "sheet {sheet}: no points for device {device:?} below the header in row {header_row}{}",
        if devices.is_empty() { String::new() } else { format!("; the device column names: {}", devices.join(", ")) }
    )]
    NoPoints {
        /// The sheet.
        sheet: String,
        /// The device asked for.
        device: String,
        /// Where the header was found.
        header_row: usize,
        /// Devices the table's device column names.
        devices: Vec<String>,
    },
}
