//! `edgeproof import` and `export-points` as an integrator uses them: a vendor's point table
//! (CSV and XLSX, Chinese headers, a title row, Modicon addresses, planted mistakes) → TOML
//! that `check` accepts; and a device's points → xlsx → import again, unchanged.

use std::path::Path;
use std::process::{Command, Output};

use rust_xlsxwriter::Workbook;

use crate::support::{bin, describe, gateway, run};

fn edgeproof(args: &[&str]) -> Output {
    run(Command::new(bin()).args(args))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A meter's table as vendors hand it out: a title row, Chinese headers (with a unit in
/// brackets), Modicon addresses without an area column for most rows, an explicit area for
/// the rest, a column nobody needs.
const GOOD: &[&[&str]] = &[
    &["XX电表 Modbus 点表 V1.2", "", "", "", "", "", "", "", ""],
    &["序号", "点位名", "地址", "寄存器类型", "数据类型", "字节序", "倍率", "单位", "采集周期(ms)"],
    &["1", "A相电压", "40001", "", "float", "CDAB", "1", "V", "1000"],
    &["2", "B相电压", "40003", "", "FLOAT", "3412", "", "V", "1000"],
    &["3", "总有功电能", "30101", "", "uint32", "ABCD", "0.01", "kWh", "5000"],
    &["4", "状态字", "10", "保持寄存器", "无符号16位", "", "", "", ""],
    &["5", "运行", "0", "线圈", "bool", "", "", "", ""],
    &["6", "频率", "0x20", "03", "uint16", "", "×0.01", "Hz", ""],
];

/// The same table with a mistake planted in five cells (and one good row left alone).
const BAD: &[&[&str]] = &[
    &["点位名", "地址", "寄存器类型", "数据类型", "字节序", "倍率", "单位"],
    &["A相电压", "40001", "", "flaot", "CDAB", "1", "V"],
    &["", "40003", "", "float", "CDAB", "", "V"],
    &["频率", "abc", "03", "u16", "", "", "Hz"],
    &["功率", "-5", "03", "u16", "", "", "kW"],
    &["状态", "12", "holdings", "u16", "", "", ""],
    &["正常", "13", "03", "u16", "", "0.1", ""],
];

fn write_csv(path: &Path, rows: &[&[&str]]) {
    let mut w = csv::Writer::from_path(path).unwrap();
    for r in rows {
        w.write_record(*r).unwrap();
    }
    w.flush().unwrap();
}

fn write_xlsx(path: &Path, sheets: &[(&str, &[&[&str]])]) {
    let mut book = Workbook::new();
    for (name, rows) in sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(*name).unwrap();
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                // Numbers as numbers, as Excel stores them (40001 is a float in the file).
                match cell.parse::<f64>() {
                    Ok(n) if !cell.is_empty() => sheet.write_number(r as u32, c as u16, n),
                    _ => sheet.write_string(r as u32, c as u16, *cell),
                }
                .unwrap();
            }
        }
    }
    book.save(path).unwrap();
}

/// Checks the imported TOML as the device's points under a `[[devices]]` entry.
fn check_points(dir: &Path, toml: &str) -> Output {
    let cfg = dir.join("site.toml");
    std::fs::write(
        &cfg,
        format!(
            "{}[[devices]]\nname = \"meter-1\"\nprotocol = \"modbus-tcp\"\naddress = \"10.0.0.5:502\"\n{toml}",
            gateway(dir)
        ),
    )
    .unwrap();
    run(Command::new(bin()).args(["check", "-c"]).arg(&cfg))
}

fn assert_good_import(dir: &Path, out: &Output) {
    assert!(out.status.success(), "{}", describe(out));
    let toml = String::from_utf8_lossy(&out.stdout).into_owned();
    for want in [
        "name = \"A相电压\"\n  area = \"holding\"\n  address = 0\n  type = \"f32\"\n  order = \"CDAB\"",
        "Modicon address 40001 → holding 0",
        "name = \"B相电压\"\n  area = \"holding\"\n  address = 2\n  type = \"f32\"\n  order = \"CDAB\"",
        "name = \"总有功电能\"\n  area = \"input\"\n  address = 100\n  type = \"u32\"\n  order = \"ABCD\"\n  scale = 0.01\n  unit = \"kWh\"\n  poll = \"5s\"",
        "name = \"状态字\"\n  area = \"holding\"\n  address = 10\n  type = \"u16\"",
        "name = \"运行\"\n  area = \"coil\"\n  address = 0\n  type = \"bool\"",
        "name = \"频率\"\n  area = \"holding\"\n  address = 32\n  type = \"u16\"\n  scale = 0.01",
    ] {
        assert!(toml.contains(want), "missing {want:?} in\n{toml}");
    }
    assert!(stderr(out).contains("row 3: Modicon address 40001 → holding 0"), "{}", describe(out));
    let check = check_points(dir, &toml);
    assert!(check.status.success(), "{}\n{toml}", describe(&check));
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("1 device(s), 6 point(s)"),
        "{}",
        describe(&check)
    );
}

#[test]
fn import_reads_a_chinese_csv_table_with_modicon_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("点表.csv");
    write_csv(&table, GOOD);
    let out = edgeproof(&["import", table.to_str().unwrap(), "--device", "meter-1"]);
    assert_good_import(dir.path(), &out);
}

#[test]
fn import_reads_the_named_sheet_of_an_xlsx_table() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("points.xlsx");
    write_xlsx(&table, &[("说明", &[&["本表说明"]]), ("电表", GOOD)]);
    let out =
        edgeproof(&["import", table.to_str().unwrap(), "--sheet", "电表", "--device", "meter-1"]);
    assert_good_import(dir.path(), &out);

    let out = edgeproof(&["import", table.to_str().unwrap(), "--sheet", "水表", "--device", "m"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("sheets: 说明, 电表"), "{}", describe(&out));
}

/// Every bad cell is reported at once, with sheet, row and column; no TOML is printed.
#[test]
fn import_reports_every_bad_cell_with_sheet_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("bad.csv");
    write_csv(&csv_path, BAD);
    let xlsx_path = dir.path().join("bad.xlsx");
    write_xlsx(&xlsx_path, &[("点表", BAD)]);
    for (path, sheet) in [(&csv_path, "bad.csv"), (&xlsx_path, "点表")] {
        let out = edgeproof(&["import", path.to_str().unwrap(), "--device", "m"]);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        assert!(out.stdout.is_empty(), "{}", describe(&out));
        let err = stderr(&out);
        for want in [
            format!("sheet {sheet}, row 2, column D (数据类型): \"flaot\" is not a type"),
            format!("sheet {sheet}, row 3, column A (点位名): empty"),
            format!("sheet {sheet}, row 4, column B (地址): \"abc\" is not an address"),
            format!("sheet {sheet}, row 5, column B (地址): -5 is negative"),
            format!("sheet {sheet}, row 6, column C (寄存器类型): \"holdings\" is not an area"),
            "5 bad cell(s)".to_string(),
        ] {
            assert!(err.contains(&want), "missing {want:?} in\n{err}");
        }
    }
}

/// What no single cell shows — two points on one register with different types — is traced
/// back to its row by the config's own checks.
#[test]
fn import_reports_overlapping_rows_by_row() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("overlap.csv");
    write_csv(
        &table,
        &[&["name", "address", "type"], &["voltage", "40001", "f32"], &["status", "40002", "u16"]],
    );
    let out = edgeproof(&["import", table.to_str().unwrap(), "--device", "m"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("row 3 (status): \"status\" (u16 at holding 1) overlaps \"voltage\""),
        "{}",
        describe(&out)
    );
}

#[test]
fn export_points_writes_an_xlsx_that_imports_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/example.toml");
    let xlsx = dir.path().join("press.xlsx");
    let out = run(Command::new(bin())
        .args(["export-points", "-c", example, "--device", "press-01", "-o"])
        .arg(&xlsx));
    assert!(out.status.success(), "{}", describe(&out));
    let out = edgeproof(&["import", xlsx.to_str().unwrap(), "--device", "press-01"]);
    assert!(out.status.success(), "{}", describe(&out));
    let toml = String::from_utf8_lossy(&out.stdout).into_owned();

    let cfg = edgeproof::config::load(Path::new(example)).unwrap();
    let edgeproof::config::DeviceProtocol::ModbusTcp(press) = &cfg.devices[0].protocol else {
        panic!("modbus")
    };
    let text = format!(
        "{}[[devices]]\nname = \"press-01\"\nprotocol = \"modbus-tcp\"\naddress = \"h:502\"\n{toml}",
        gateway(dir.path())
    );
    let back = edgeproof::config::load_str(Path::new("back.toml"), &text, false).expect(&toml);
    let edgeproof::config::DeviceProtocol::ModbusTcp(again) = &back.devices[0].protocol else {
        panic!("modbus")
    };
    let strip = |p: &edgeproof::source::modbus::ModbusPoint| {
        let mut p = p.clone();
        p.deadband = None; // not a column of the point table
        p
    };
    let want: Vec<_> = press.points.iter().map(strip).collect();
    let got: Vec<_> = again.points.iter().map(strip).collect();
    assert_eq!(got, want);
}
