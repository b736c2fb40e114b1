//! A point table as text cells: one sheet of a workbook (xlsx, xls, ods via calamine) or a CSV
//! file, each row with the number a spreadsheet shows for it, so that every complaint can say
//! "sheet 点表, row 7, column D".

use std::path::Path;

use calamine::{Data, Reader};

use super::ImportError;

/// One sheet of text cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    /// The sheet's name (for CSV, the file name).
    pub name: String,
    /// Rows that are not entirely empty: (1-based row number, cells).
    pub rows: Vec<(usize, Vec<String>)>,
}

/// Reads `path`: CSV by its extension (UTF-8, with or without BOM, or GBK from Excel on a
/// Chinese Windows is refused with a hint), anything else as a workbook. `sheet` picks a sheet
/// by name; by default the first.
pub fn read(path: &Path, sheet: Option<&str>) -> Result<Sheet, ImportError> {
    let is_csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        read_csv(path)
    } else {
        read_workbook(path, sheet)
    }
}

fn read_csv(path: &Path) -> Result<Sheet, ImportError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ImportError::Read { path: path.to_path_buf(), reason: e.to_string() })?;
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t.trim_start_matches('\u{feff}').to_string(),
        Err(_) => {
            return Err(ImportError::Read {
                path: path.to_path_buf(),
                reason: "not UTF-8 (Excel on Chinese Windows saves CSV as GBK): save as \
                         \"CSV UTF-8\", or import the .xlsx itself"
                    .into(),
            })
        }
    };
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record
            .map_err(|e| ImportError::Read { path: path.to_path_buf(), reason: e.to_string() })?;
        let cells: Vec<String> = record.iter().map(|c| c.trim().to_string()).collect();
        if cells.iter().any(|c| !c.is_empty()) {
            rows.push((i + 1, cells));
        }
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Sheet { name, rows })
}

fn read_workbook(path: &Path, sheet: Option<&str>) -> Result<Sheet, ImportError> {
    let read_err = |reason: String| ImportError::Read { path: path.to_path_buf(), reason };
    let mut book = calamine::open_workbook_auto(path).map_err(|e| read_err(e.to_string()))?;
    let names = book.sheet_names();
    let name = match sheet {
        Some(s) => names
            .iter()
            .find(|n| n.as_str() == s)
            .cloned()
            .ok_or_else(|| read_err(format!("no sheet {s:?}; sheets: {}", names.join(", "))))?,
        None => names.first().cloned().ok_or_else(|| read_err("no sheets".into()))?,
    };
    let range = book.worksheet_range(&name).map_err(|e| read_err(e.to_string()))?;
    let (row0, col0) = range.start().unwrap_or((0, 0));
    let mut rows = Vec::new();
    for (i, row) in range.rows().enumerate() {
        let mut cells: Vec<String> = vec![String::new(); col0 as usize];
        cells.extend(row.iter().map(cell_text));
        if cells.iter().any(|c| !c.is_empty()) {
            rows.push((row0 as usize + i + 1, cells));
        }
    }
    Ok(Sheet { name, rows })
}

/// A cell as the text a person sees: whole floats without ".0" (Excel stores 40001 as a float).
fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::String(s) => s.trim().to_string(),
        Data::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// The spreadsheet letter of a 0-based column: 0 → A, 26 → AA.
pub fn column_letter(mut col: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::column_letter;

    #[test]
    fn columns_are_lettered_like_a_spreadsheet() {
        let got: Vec<String> = [0, 3, 25, 26, 27, 701, 702].map(column_letter).into();
        assert_eq!(got, ["A", "D", "Z", "AA", "AB", "ZZ", "AAA"]);
    }
}
