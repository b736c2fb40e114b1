//! A device's points as an xlsx point table for the customer's sign-off: the columns `import`
//! reads back (Chinese headers with the English name in brackets), one row per point, the
//! Modicon address beside the 0-based one so both sides can check against the manual.

use std::path::Path;

use rust_xlsxwriter::{Format, Workbook};

use crate::source::modbus::{Area, DataType, ModbusPoint};

/// Headers, in order. `import` recognises each (the bracketed English is ignored there).
pub const HEADERS: [&str; 11] = [
    "名称 (name)",
    "寄存器类型 (area)",
    "地址 (address, 0-based)",
    "Modicon",
    "数据类型 (type)",
    "字节序 (order)",
    "倍率 (scale)",
    "偏移 (offset)",
    "单位 (unit)",
    "采集周期 (poll)",
    "确认 (sign-off)",
];

/// Writes `points` of `device` to `path` (one sheet named after the device).
pub fn write_xlsx(path: &Path, device: &str, points: &[ModbusPoint]) -> Result<(), String> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    // Sheet names: at most 31 characters, none of []:*?/\.
    let name: String =
        device.chars().filter(|c| !"[]:*?/\\".contains(*c)).take(31).collect::<String>();
    sheet.set_name(if name.is_empty() { "points" } else { &name }).map_err(|e| e.to_string())?;
    let bold = Format::new().set_bold();
    for (col, h) in HEADERS.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *h, &bold).map_err(|e| e.to_string())?;
    }
    for (i, p) in points.iter().enumerate() {
        let row = i as u32 + 1;
        let modicon = match p.area {
            Area::Coil => format!("{:05}", u32::from(p.address) + 1),
            Area::Discrete => format!("1{:04}", u32::from(p.address) + 1),
            Area::Input => format!("3{:04}", u32::from(p.address) + 1),
            Area::Holding => format!("4{:04}", u32::from(p.address) + 1),
        };
        let order = match p.dtype.order_bytes() {
            Some(8) => p.order.name8(),
            Some(_) => p.order.name4(),
            None => "",
        };
        let cells: [(u16, String); 7] = [
            (0, p.name.to_string()),
            (1, p.area.as_str().to_string()),
            (3, modicon),
            (4, type_cell(p.dtype)),
            (5, order.to_string()),
            (8, p.unit.clone().unwrap_or_default()),
            (9, humantime::format_duration(p.poll).to_string()),
        ];
        for (col, text) in cells {
            sheet.write_string(row, col, text).map_err(|e| e.to_string())?;
        }
        sheet.write_number(row, 2, f64::from(p.address)).map_err(|e| e.to_string())?;
        sheet.write_number(row, 6, p.scale).map_err(|e| e.to_string())?;
        sheet.write_number(row, 7, p.offset).map_err(|e| e.to_string())?;
    }
    sheet.set_column_width(0, 28).map_err(|e| e.to_string())?;
    sheet.set_freeze_panes(1, 0).map_err(|e| e.to_string())?;
    book.save(path).map_err(|e| e.to_string())
}

/// The type as `import` reads it back: `string(10)` and `bit(3)` carry their number.
fn type_cell(t: DataType) -> String {
    match t {
        DataType::String(n) => format!("string({n})"),
        DataType::Bit(b) => format!("bit({b})"),
        t => t.as_str().to_string(),
    }
}
