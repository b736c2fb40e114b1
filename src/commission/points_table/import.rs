//! Rows of a point table → points: each cell parsed in the forms vendor tables use, every bad
//! cell reported with its sheet, row and column, Modicon addresses converted with a note.

use std::collections::HashMap;
use std::time::Duration;

use super::columns::{classify, poll_in_seconds, Column};
use super::sheet::{column_letter, Sheet};
use super::{BadCell, ImportError};
use crate::source::modbus::{Area, DataType, Order};

/// One imported point, ready to be written as `[[devices.points]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedPoint {
    /// The row it came from.
    pub row: usize,
    /// Point name.
    pub name: String,
    /// Area.
    pub area: Area,
    /// 0-based protocol address.
    pub address: u16,
    /// Data type (`None`: the config default for the area).
    pub dtype: Option<DataType>,
    /// Byte order, when given.
    pub order: Option<Order>,
    /// Scale, when given and not 1.
    pub scale: Option<f64>,
    /// Offset, when given and not 0.
    pub offset: Option<f64>,
    /// Engineering unit.
    pub unit: Option<String>,
    /// Poll interval.
    pub poll: Option<Duration>,
    /// What was converted (a Modicon address), for a comment beside the point.
    pub note: Option<String>,
}

/// What an import produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Imported {
    /// The points, in row order.
    pub points: Vec<ImportedPoint>,
    /// Headers that were not understood (ignored), with their column letter.
    pub ignored_columns: Vec<String>,
}

/// How many leading rows may come before the header row (titles, notes).
const HEADER_SEARCH_ROWS: usize = 10;

/// Imports the points of `device` from `sheet`. With a device column, only the rows naming
/// `device` are taken (rows without a device are taken too).
pub fn import(sheet: &Sheet, device: &str) -> Result<Imported, ImportError> {
    // The header row: the first with a name and an address column.
    let (header_at, columns) = sheet
        .rows
        .iter()
        .take(HEADER_SEARCH_ROWS)
        .enumerate()
        .map(|(i, (_, cells))| (i, cells.iter().map(|c| classify(c)).collect::<Vec<_>>()))
        .find(|(_, cols)| {
            cols.contains(&Some(Column::Name)) && cols.contains(&Some(Column::Address))
        })
        .ok_or_else(|| ImportError::NoHeader { sheet: sheet.name.clone() })?;
    let (header_row, headers) = &sheet.rows[header_at];
    // The first column of each kind counts.
    let mut at: HashMap<Column, usize> = HashMap::new();
    let mut ignored = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        match c {
            Some(c) => {
                at.entry(*c).or_insert(i);
            }
            None if !headers[i].is_empty() => {
                ignored.push(format!("{} ({})", column_letter(i), headers[i]));
            }
            None => {}
        }
    }
    let poll_seconds = at.get(&Column::Poll).is_some_and(|i| poll_in_seconds(&headers[*i]));
    let mut bad = Vec::new();
    let mut points = Vec::new();
    let mut devices_seen: Vec<String> = Vec::new();
    for (row, cells) in &sheet.rows[header_at + 1..] {
        let cell =
            |c: Column| at.get(&c).and_then(|i| cells.get(*i)).map(String::as_str).unwrap_or("");
        if let Some(d) =
            at.get(&Column::Device).and_then(|i| cells.get(*i)).filter(|d| !d.is_empty())
        {
            if !devices_seen.contains(d) {
                devices_seen.push(d.clone());
            }
            if d != device {
                continue;
            }
        }
        let mut row_bad = Vec::new();
        let mut complain = |c: Column, message: String| {
            let i = at.get(&c).copied();
            row_bad.push(BadCell {
                sheet: sheet.name.clone(),
                row: *row,
                column: i.map_or_else(|| "-".to_string(), column_letter),
                header: i.map_or_else(|| c.label().to_string(), |i| headers[i].clone()),
                message,
            });
        };
        let name = cell(Column::Name).to_string();
        if name.is_empty() {
            complain(Column::Name, "empty; every point needs a name".into());
        } else if name.chars().any(char::is_control) {
            complain(Column::Name, format!("{name:?} has control characters"));
        }
        let area_text = cell(Column::Area);
        let mut area_bad = false;
        let area = if area_text.is_empty() {
            None
        } else {
            match parse_area(area_text) {
                Some(a) => Some(a),
                None => {
                    area_bad = true;
                    complain(
                        Column::Area,
                        format!(
                            "{area_text:?} is not an area; write 保持寄存器/holding/03/4x, \
                             输入寄存器/input/04/3x, 线圈/coil/01/0x or 离散输入/discrete/02/1x"
                        ),
                    );
                    None
                }
            }
        };
        let address_text = cell(Column::Address);
        let mut note = None;
        let located = match parse_number(address_text) {
            None if address_text.is_empty() => {
                complain(Column::Address, "empty; every point needs an address".into());
                None
            }
            None => {
                complain(
                    Column::Address,
                    format!("{address_text:?} is not an address (decimal, or hex as 0x1A / 1AH)"),
                );
                None
            }
            Some(n) if n < 0 => {
                complain(Column::Address, format!("{n} is negative"));
                None
            }
            // The area cell is already reported; the address cannot be placed without it.
            Some(_) if area_bad => None,
            Some(n) => match locate(n, area) {
                Ok((a, address, converted)) => {
                    note = converted;
                    Some((a, address))
                }
                Err(message) => {
                    let column = if area.is_none() && message.contains("area") {
                        Column::Area
                    } else {
                        Column::Address
                    };
                    complain(column, message);
                    None
                }
            },
        };
        let type_text = cell(Column::Type);
        let dtype = if type_text.is_empty() {
            None
        } else {
            match parse_type(type_text) {
                Some(t) => Some(t),
                None => {
                    complain(
                        Column::Type,
                        format!(
                            "{type_text:?} is not a type; write u16 i16 u32 i32 u64 i64 f32 f64 \
                             bool (or uint16, int32, float, 浮点, …)"
                        ),
                    );
                    None
                }
            }
        };
        if let (Some((a, _)), Some(t)) = (located, dtype) {
            if a.is_bits() && t != DataType::Bool {
                complain(
                    Column::Type,
                    format!("{:?} cannot be read from {a}s; use bool", t.as_str()),
                );
            }
        }
        let order_text = cell(Column::Order);
        let order = if order_text.is_empty() {
            None
        } else {
            match parse_order(order_text) {
                Some(o) if dtype.is_some_and(|t| t.order_bytes().is_none()) => {
                    // A byte order on a 16-bit value: vendors fill the column for every row.
                    let _ = o;
                    None
                }
                Some(o) => Some(o),
                None => {
                    complain(
                        Column::Order,
                        format!("{order_text:?} is not a byte order; write ABCD CDAB BADC DCBA (or 1234, 3412, 大端, 小端)"),
                    );
                    None
                }
            }
        };
        let number = |c: Column, complain: &mut dyn FnMut(Column, String)| -> Option<f64> {
            let text = cell(c);
            if text.is_empty() {
                return None;
            }
            match parse_factor(text) {
                Some(v) if v.is_finite() => Some(v),
                _ => {
                    complain(c, format!("{text:?} is not a number"));
                    None
                }
            }
        };
        let scale = number(Column::Scale, &mut complain).filter(|s| *s != 1.0);
        if scale == Some(0.0) {
            complain(Column::Scale, "0 would make every value 0".into());
        }
        let offset = number(Column::Offset, &mut complain).filter(|o| *o != 0.0);
        let poll_text = cell(Column::Poll);
        let poll = if poll_text.is_empty() {
            None
        } else {
            match parse_poll(poll_text, poll_seconds) {
                Some(d) => Some(d),
                None => {
                    complain(Column::Poll, format!("{poll_text:?} is not an interval; write e.g. 1000 (ms), \"1s\", \"500ms\""));
                    None
                }
            }
        };
        let unit = Some(cell(Column::Unit).to_string()).filter(|u| !u.is_empty());
        if row_bad.is_empty() {
            if let Some((area, address)) = located {
                points.push(ImportedPoint {
                    row: *row,
                    name,
                    area,
                    address,
                    dtype,
                    order,
                    scale,
                    offset,
                    unit,
                    poll,
                    note,
                });
            }
        }
        bad.extend(row_bad);
    }
    if !bad.is_empty() {
        return Err(ImportError::BadCells(bad));
    }
    if points.is_empty() {
        return Err(ImportError::NoPoints {
            sheet: sheet.name.clone(),
            device: device.to_string(),
            header_row: *header_row,
            devices: devices_seen,
        });
    }
    Ok(Imported { points, ignored_columns: ignored })
}

/// Area names and function codes: 保持寄存器 / holding / HR / 03 / 4x, and so on.
pub fn parse_area(text: &str) -> Option<Area> {
    let t = text.trim().to_lowercase().replace([' ', '_', '-'], "");
    let t = t.strip_prefix("fc").unwrap_or(&t);
    let t = t.strip_prefix("0x").filter(|r| !r.is_empty() && r.len() <= 2).unwrap_or(t);
    Some(match t {
        "holding" | "holdingregister" | "holdingregisters" | "hr" | "3" | "03" | "4x" | "4区"
        | "保持寄存器" | "保持" => Area::Holding,
        "input" | "inputregister" | "inputregisters" | "ir" | "4" | "04" | "3x" | "3区"
        | "输入寄存器" => Area::Input,
        "coil" | "coils" | "co" | "1" | "01" | "0x" | "0区" | "线圈" | "线圈状态" => {
            Area::Coil
        }
        "discrete" | "discreteinput" | "discreteinputs" | "di" | "2" | "02" | "1x" | "1区"
        | "离散输入" | "输入状态" | "离散量输入" => Area::Discrete,
        _ => return None,
    })
}

/// A whole number: decimal, `0x1A`, or `1AH`.
fn parse_number(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok();
    }
    if let Some(hex) = t.strip_suffix('H').or_else(|| t.strip_suffix('h')) {
        return i64::from_str_radix(hex, 16).ok();
    }
    t.parse::<i64>().ok()
}

/// The area and 0-based address of address `n` in a row whose area column says `area`.
/// Modicon addresses (1-based with the area as leading digit: 40001 is holding 0, 300001 is
/// input 0) are converted, with a note saying so.
fn locate(n: i64, area: Option<Area>) -> Result<(Area, u16, Option<String>), String> {
    let modicon = |n: i64| -> Option<(Area, i64)> {
        let (digit, rest) = match n {
            10_001..=19_999 | 30_001..=39_999 | 40_001..=49_999 => (n / 10_000, n % 10_000),
            100_001..=165_536 | 300_001..=365_536 | 400_001..=465_536 => (n / 100_000, n % 100_000),
            _ => return None,
        };
        let a = match digit {
            1 => Area::Discrete,
            3 => Area::Input,
            4 => Area::Holding,
            _ => return None,
        };
        Some((a, rest - 1))
    };
    match (modicon(n), area) {
        (Some((a, address)), given) if given.is_none_or(|g| g == a) => {
            Ok((a, address as u16, Some(format!("Modicon address {n} → {a} {address} (0-based)"))))
        }
        (Some((a, _)), Some(g)) if n > 65_535 => {
            Err(format!("{n} is a Modicon {a} address, but the row's area is {g}"))
        }
        (_, Some(a)) => u16::try_from(n).map(|address| (a, address, None)).map_err(|_| {
            format!("{n} is past 65535 (and not a Modicon 4xxxx/3xxxx/1xxxx address)")
        }),
        (_, None) => Err(format!(
            "no area for address {n}: give the area column (寄存器类型), or a Modicon address \
             (4xxxx holding, 3xxxx input, 1xxxx discrete)"
        )),
    }
}

/// Type names as vendor tables write them.
pub fn parse_type(text: &str) -> Option<DataType> {
    let t = text.trim().to_lowercase().replace([' ', '_', '-', '（', '）'], "");
    // `string(10)` (registers) and `bit(3)` (bit number), as `export-points` writes them.
    let with_number = |prefix: &[&str]| {
        prefix
            .iter()
            .find_map(|p| t.strip_prefix(p))
            .and_then(|rest| rest.trim_start_matches('(').trim_end_matches(')').parse::<u16>().ok())
    };
    if let Some(n) = with_number(&["string", "字符串", "ascii"]).filter(|n| *n >= 1) {
        return Some(DataType::String(n));
    }
    if let Some(n) = with_number(&["bit", "位"]).filter(|n| *n <= 15) {
        return Some(DataType::Bit(n as u8));
    }
    Some(match t.as_str() {
        "u16" | "uint16" | "uint" | "word" | "ushort" | "unsignedshort" | "unsigned16"
        | "无符号16位" | "无符号整数" | "无符号整型" | "16位无符号" => {
            DataType::U16
        }
        "i16" | "int16" | "int" | "short" | "signed16" | "有符号16位" | "整数" | "整型"
        | "16位有符号" => DataType::I16,
        "u32" | "uint32" | "dword" | "udint" | "ulong" | "unsignedlong" | "无符号32位"
        | "32位无符号" => DataType::U32,
        "i32" | "int32" | "dint" | "long" | "有符号32位" | "32位有符号" | "长整型" => {
            DataType::I32
        }
        "u64" | "uint64" | "ulint" | "无符号64位" => DataType::U64,
        "i64" | "int64" | "lint" | "有符号64位" => DataType::I64,
        "f32" | "float" | "float32" | "real" | "single" | "浮点" | "浮点数" | "浮点型"
        | "单精度" | "单精度浮点" | "单精度浮点数" => DataType::F32,
        "f64" | "double" | "float64" | "lreal" | "双精度" | "双精度浮点" | "双精度浮点数" => {
            DataType::F64
        }
        "bool" | "bit" | "boolean" | "布尔" | "布尔型" | "开关量" => DataType::Bool,
        _ => return None,
    })
}

/// Byte orders: ABCD names, digit names (1234 = ABCD, 3412 = CDAB) and words.
pub fn parse_order(text: &str) -> Option<Order> {
    let t = text.trim().to_uppercase().replace([' ', '_', '-'], "");
    if let Some(o) = Order::ALL.into_iter().find(|o| o.name4() == t || o.name8() == t) {
        return Some(o);
    }
    Some(match t.as_str() {
        "1234" | "12345678" | "BIGENDIAN" | "BIG" | "大端" | "高字节在前" => Order::Abcd,
        "3412" | "78563412" | "WORDSWAP" | "SWAPWORDS" | "低字在前" => Order::Cdab,
        "2143" | "21436587" | "BYTESWAP" | "SWAPBYTES" => Order::Badc,
        "4321" | "87654321" | "LITTLEENDIAN" | "LITTLE" | "小端" => Order::Dcba,
        _ => return None,
    })
}

/// A factor: `0.1`, `×0.1`, `*10`, `1/10`, `0.01倍`.
fn parse_factor(text: &str) -> Option<f64> {
    let t = text.trim().trim_start_matches(['×', 'x', 'X', '*']).trim_end_matches('倍').trim();
    if let Some((a, b)) = t.split_once('/') {
        let (a, b) = (a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?);
        return (b != 0.0).then(|| a / b);
    }
    t.parse::<f64>().ok()
}

/// A poll interval: `1s`, `500ms`, or a plain number (milliseconds, or seconds when the
/// header says so).
fn parse_poll(text: &str, seconds: bool) -> Option<Duration> {
    let t = text.trim();
    if let Ok(n) = t.parse::<f64>() {
        if !(n.is_finite() && n > 0.0) {
            return None;
        }
        return Some(if seconds {
            Duration::from_secs_f64(n)
        } else {
            Duration::from_secs_f64(n / 1000.0)
        });
    }
    let t = t.replace('秒', "s").replace("毫s", "ms");
    humantime::parse_duration(&t).ok().filter(|d| !d.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modicon_addresses_are_converted_and_plain_ones_kept() {
        assert_eq!(locate(40001, None).map(|(a, n, _)| (a, n)), Ok((Area::Holding, 0)));
        assert_eq!(locate(30011, None).map(|(a, n, _)| (a, n)), Ok((Area::Input, 10)));
        assert_eq!(locate(400001, None).map(|(a, n, _)| (a, n)), Ok((Area::Holding, 0)));
        assert_eq!(
            locate(10003, Some(Area::Discrete)).map(|(a, n, _)| (a, n)),
            Ok((Area::Discrete, 2))
        );
        assert_eq!(locate(100, Some(Area::Holding)), Ok((Area::Holding, 100, None)));
        // In the area column's range but another area: a plain address.
        assert_eq!(locate(40001, Some(Area::Input)), Ok((Area::Input, 40001, None)));
        assert!(locate(400001, Some(Area::Input)).is_err());
        assert!(locate(100, None).unwrap_err().contains("no area"));
        assert!(locate(70000, Some(Area::Holding)).is_err());
    }

    #[test]
    fn cells_parse_in_the_forms_vendor_tables_use() {
        assert_eq!(parse_area("保持寄存器"), Some(Area::Holding));
        assert_eq!(parse_area("03"), Some(Area::Holding));
        assert_eq!(parse_area("FC04"), Some(Area::Input));
        assert_eq!(parse_area("0x01"), Some(Area::Coil));
        assert_eq!(parse_area("离散输入"), Some(Area::Discrete));
        assert_eq!(parse_area("holdings?"), None);
        assert_eq!(parse_type("FLOAT"), Some(DataType::F32));
        assert_eq!(parse_type("浮点"), Some(DataType::F32));
        assert_eq!(parse_type("UINT16"), Some(DataType::U16));
        assert_eq!(parse_type("flaot"), None);
        assert_eq!(parse_type("string(10)"), Some(DataType::String(10)));
        assert_eq!(parse_type("bit(3)"), Some(DataType::Bit(3)));
        assert_eq!(parse_type("bit"), Some(DataType::Bool));
        assert_eq!(parse_order("3412"), Some(Order::Cdab));
        assert_eq!(parse_order("小端"), Some(Order::Dcba));
        assert_eq!(parse_factor("×0.1"), Some(0.1));
        assert_eq!(parse_factor("1/100"), Some(0.01));
        assert_eq!(parse_number("0x10"), Some(16));
        assert_eq!(parse_number("1AH"), Some(26));
        assert_eq!(parse_poll("1000", false), Some(Duration::from_secs(1)));
        assert_eq!(parse_poll("5", true), Some(Duration::from_secs(5)));
        assert_eq!(parse_poll("500ms", false), Some(Duration::from_millis(500)));
        assert_eq!(parse_poll("fast", false), None);
    }
}
