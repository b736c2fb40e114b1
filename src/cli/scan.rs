//! `edgeproof scan TARGET [--units 1-247] [--range 0:10000]`: which unit ids answer, which
//! addresses of each area they let us read (bisecting on exception 02/03, read function
//! codes only, one request at a time with `--gap` between), then a draft device map and a
//! CSV point table.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use edgeproof::commission::draft::{device_map, point_table_csv, FoundUnit};
use edgeproof::commission::scan::{find_unit, Answer};
use edgeproof::commission::{scan_area, Links, ScanLimits, Target};
use edgeproof::source::modbus::Area;

/// `edgeproof scan`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// `tcp://HOST[:PORT]` (a device or a gateway with units behind it),
    /// `rtu:///dev/ttyUSB0?baud=9600&parity=even` or `rtu-over-tcp://HOST:PORT`.
    pub target: String,
    /// Unit ids to try: a list of ids and ranges, e.g. `1-10,17,100-120`.
    #[arg(long, default_value = "1-247")]
    pub units: String,
    /// Areas to map, comma-separated: holding, input, coil, discrete.
    #[arg(long, default_value = "holding,input,coil,discrete")]
    pub areas: String,
    /// Addresses to map in each area: START:COUNT (0-based).
    #[arg(long, default_value = "0:1000", value_name = "START:COUNT")]
    pub range: String,
    /// Pause before every request (rate limit; a bus shared with a running master needs
    /// room).
    #[arg(long, default_value = "20ms", value_parser = humantime::parse_duration)]
    pub gap: Duration,
    /// Request timeout: how long a unit id is given to answer.
    #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Most requests per area of a unit (a unit with many holes is not bisected forever).
    #[arg(long, default_value_t = 2000)]
    pub max_requests: usize,
    /// Sample refused blocks with single reads this far apart and bisect only blocks where a
    /// sample reads: a readable stretch shorter than this may be missed. 1 is exact (one
    /// request per unreadable address). Coils and discrete inputs: four times this.
    #[arg(long, default_value_t = 4)]
    pub stride: u32,
    /// Most points per unit in the drafts.
    #[arg(long, default_value_t = 500)]
    pub max_points: usize,
    /// Device names in the drafts: PREFIX-<unit>.
    #[arg(long, default_value = "unit")]
    pub prefix: String,
    /// Write the draft device map here (default: printed after the summary).
    #[arg(long)]
    pub toml: Option<PathBuf>,
    /// Write the CSV point table here (`edgeproof import` reads it back).
    #[arg(long)]
    pub csv: Option<PathBuf>,
}

/// Runs the scan. Exit 0 some unit answered, 1 none did, 2 could not run.
pub async fn run(args: ScanArgs) -> ExitCode {
    match scan(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(super::EXIT_NEGATIVE),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(super::EXIT_CANNOT_RUN)
        }
    }
}

async fn scan(args: &ScanArgs) -> anyhow::Result<bool> {
    let target = Target::parse(&args.target)?;
    let units = parse_units(&args.units)?;
    let areas = parse_areas(&args.areas)?;
    let (start, count) = match args.range.split_once(':') {
        Some((s, c)) => {
            (s.parse::<u16>().context("--range START")?, c.parse::<u32>().context("--range COUNT")?)
        }
        None => bail!("--range {:?}: expected START:COUNT, e.g. 0:10000", args.range),
    };
    let limits = ScanLimits { gap: args.gap, max_requests: args.max_requests, stride: args.stride };
    println!(
        "scanning {} {}: {} unit id(s), {} {start}+{count}, one request at a time, {} apart",
        target.protocol(),
        target.name(),
        units.len(),
        areas.iter().map(|a| a.as_str()).collect::<Vec<_>>().join("/"),
        humantime::format_duration(args.gap)
    );
    let mut links = Links::new(target.clone(), args.timeout);
    let mut found = Vec::new();
    for unit in units {
        let mut link = links.unit(unit);
        let (present, answer) = find_unit(&mut link, args.gap).await;
        if !present {
            if let Answer::Failed(e) = &answer {
                // Refused connection, no such serial port: no other unit will do better.
                link.close().await;
                bail!("{e}");
            }
            link.close().await;
            continue;
        }
        println!("unit {unit}: answers");
        let mut scans = Vec::new();
        for area in &areas {
            let s = scan_area(&mut link, *area, start, count, limits).await;
            let what = if s.unsupported {
                "no such area (exception 01)".to_string()
            } else if s.ranges.is_empty() {
                "none readable".to_string()
            } else {
                let r: Vec<String> = s.ranges.iter().map(|(a, n)| format!("{a}+{n}")).collect();
                format!("{} ({} readable)", r.join(", "), s.readable())
            };
            let stopped =
                s.stopped.as_ref().map_or(String::new(), |why| format!("; stopped: {why}"));
            println!("  {:<9} {what} · {} request(s){stopped}", area.as_str(), s.requests);
            scans.push((*area, s));
        }
        link.close().await;
        found.push(FoundUnit { unit, areas: scans });
    }
    let ids: Vec<String> = found.iter().map(|u| u.unit.to_string()).collect();
    println!(
        "{} unit(s) answer{}",
        found.len(),
        if ids.is_empty() { String::new() } else { format!(": {}", ids.join(", ")) }
    );
    if found.is_empty() {
        return Ok(false);
    }
    let map = device_map(&target, &found, &args.prefix, args.max_points);
    match &args.toml {
        Some(path) => {
            std::fs::write(path, &map)
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("draft device map: {}", path.display());
        }
        None => print!("\n{map}"),
    }
    if let Some(path) = &args.csv {
        let table = point_table_csv(&found, &args.prefix, args.max_points);
        std::fs::write(path, table).with_context(|| format!("cannot write {}", path.display()))?;
        println!("point table: {} (fill in, then `edgeproof import`)", path.display());
    }
    Ok(true)
}

/// `1-10,17` → [1..=10, 17], each 0..=255 once, in order.
fn parse_units(text: &str) -> anyhow::Result<Vec<u8>> {
    let mut units = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (u8, u8) = match (a.trim().parse(), b.trim().parse()) {
            (Ok(a), Ok(b)) if a <= b => (a, b),
            _ => bail!("--units {part:?}: expected ids 0-255 and ranges like 1-10"),
        };
        units.extend(a..=b);
    }
    units.sort_unstable();
    units.dedup();
    if units.is_empty() {
        bail!("--units {text:?}: no unit ids");
    }
    Ok(units)
}

fn parse_areas(text: &str) -> anyhow::Result<Vec<Area>> {
    text.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            let a = a.trim_end_matches('s');
            Area::ALL.into_iter().find(|x| x.as_str() == a).with_context(|| {
                format!("--areas: {a:?} is not one of holding, input, coil, discrete")
            })
        })
        .collect()
}
