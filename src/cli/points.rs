//! `edgeproof import FILE.xlsx|FILE.csv [--sheet S] --device NAME`: a point table (点表) →
//! the device's `[[devices.points]]` TOML; `edgeproof export-points -c FILE --device NAME -o
//! points.xlsx`: the other way, for the customer's sign-off.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use edgeproof::commission::points_table::{self, export, render, sheet, ImportError, Imported};
use edgeproof::config::{self, ConfigError, DeviceProtocol};

/// `edgeproof import`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The point table: .xlsx, .xls, .ods or .csv (UTF-8).
    pub file: PathBuf,
    /// The sheet to read (default: the first).
    #[arg(long)]
    pub sheet: Option<String>,
    /// The device the points are for (rows of other devices are skipped when the table has a
    /// device column).
    #[arg(short, long)]
    pub device: String,
    /// Write the TOML here instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Runs the import. Exit 0 imported, 1 bad cells (all listed) or no points, 2 unreadable file.
pub fn import(args: ImportArgs) -> ExitCode {
    let table = match sheet::read(&args.file, args.sheet.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(super::EXIT_CANNOT_RUN);
        }
    };
    let imported = match points_table::import(&table, &args.device) {
        Ok(i) => i,
        Err(e @ ImportError::Read { .. }) => {
            eprintln!("error: {e}");
            return ExitCode::from(super::EXIT_CANNOT_RUN);
        }
        Err(e) => {
            eprintln!("error: {}: {e}", args.file.display());
            return ExitCode::from(super::EXIT_NEGATIVE);
        }
    };
    let source = match &args.sheet {
        Some(s) => format!("{} (sheet {s})", args.file.display()),
        None => args.file.display().to_string(),
    };
    let toml = render::points_toml(&imported, &args.device, &source);
    // What a single cell cannot show (two points on one register with different types, a
    // name used twice): the config's own checks, each traced back to its row.
    let problems = config_check(&imported, &args.device, &toml, &table.name);
    if !problems.is_empty() {
        eprintln!("error: {}: {} problem(s):", args.file.display(), problems.len());
        for p in problems {
            eprintln!("  {p}");
        }
        return ExitCode::from(super::EXIT_NEGATIVE);
    }
    for p in imported.points.iter().filter_map(|p| p.note.as_ref().map(|n| (p.row, n))) {
        eprintln!("note: sheet {}, row {}: {}", table.name, p.0, p.1);
    }
    match &args.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &toml) {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::from(super::EXIT_CANNOT_RUN);
            }
            eprintln!("{} point(s) written to {}", imported.points.len(), path.display());
        }
        None => print!("{toml}"),
    }
    ExitCode::SUCCESS
}

/// Compiles the points under a stand-in device with the config's own checks; returns each
/// problem as `sheet S, row R (name): message`.
fn config_check(imported: &Imported, device: &str, toml: &str, sheet: &str) -> Vec<String> {
    let text = format!(
        "[gateway]\nid = \"import\"\nenterprise = \"91440300MA5DEM0A0G\"\nproject = \"import\"\n\
         [[devices]]\nname = \"import\"\nprotocol = \"modbus-tcp\"\naddress = \"import:502\"\n{toml}"
    );
    let errors = match config::load_str(Path::new(device), &text, false) {
        Ok(_) => return Vec::new(),
        Err(ConfigError::Invalid { errors, .. }) => errors,
        Err(e) => return vec![e.to_string()],
    };
    errors
        .into_iter()
        .map(|e| {
            let point = e
                .path
                .strip_prefix("devices[0].points[")
                .and_then(|rest| rest.split(']').next())
                .and_then(|j| j.parse::<usize>().ok())
                .and_then(|j| imported.points.get(j));
            match point {
                Some(p) => format!("sheet {sheet}, row {} ({}): {}", p.row, p.name, e.message),
                None => e.to_string(),
            }
        })
        .collect()
}

/// `edgeproof export-points`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ExportPointsArgs {
    /// The config file (TOML).
    #[arg(short, long)]
    pub config: PathBuf,
    /// The Modbus device whose points to export.
    #[arg(short, long)]
    pub device: String,
    /// The workbook to write (.xlsx).
    #[arg(short, long)]
    pub output: PathBuf,
}

/// Runs the export. Exit 0 written, 1 invalid config or no such Modbus device, 2 could not
/// read or write.
pub fn export_points(args: ExportPointsArgs) -> ExitCode {
    let cfg = match config::load(&args.config) {
        Ok(c) => c,
        Err(e @ ConfigError::Read { .. }) => {
            eprintln!("error: {e}");
            return ExitCode::from(super::EXIT_CANNOT_RUN);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(super::EXIT_NEGATIVE);
        }
    };
    let Some(device) = cfg.devices.iter().find(|d| *d.name == *args.device) else {
        let names: Vec<&str> = cfg.devices.iter().map(|d| &*d.name).collect();
        eprintln!(
            "error: no device {:?} in {}; devices: {}",
            args.device,
            args.config.display(),
            names.join(", ")
        );
        return ExitCode::from(super::EXIT_NEGATIVE);
    };
    let points = match &device.protocol {
        DeviceProtocol::ModbusTcp(m) => &m.points,
        DeviceProtocol::ModbusRtu(m) => &m.points,
        DeviceProtocol::OpcUa(_) => {
            eprintln!(
                "error: {:?} is an OPC UA device; export-points writes Modbus point tables",
                args.device
            );
            return ExitCode::from(super::EXIT_NEGATIVE);
        }
    };
    match export::write_xlsx(&args.output, &device.name, points) {
        Ok(()) => {
            println!(
                "{} point(s) of {} written to {}",
                points.len(),
                device.name,
                args.output.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", args.output.display());
            ExitCode::from(super::EXIT_CANNOT_RUN)
        }
    }
}
