//! `edgeproof read TARGET --unit N --holding START:COUNT [--type T] [--order O] [--json]`:
//! read a device without a config file, like mbpoll — every value beside its raw registers.
//! Read function codes only.

use std::process::ExitCode;
use std::time::Duration;

use edgeproof::commission::span::{parse_order, parse_type};
use edgeproof::commission::{read_span, Links, Span, Target};
use edgeproof::source::modbus::Area;
use serde_json::json;

/// `edgeproof read`'s arguments.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("area").required(true).multiple(false))]
pub struct ReadArgs {
    /// `tcp://HOST[:PORT]`, `rtu:///dev/ttyUSB0?baud=9600&parity=even` (data_bits,
    /// stop_bits too; default 9600 8E1) or `rtu-over-tcp://HOST:PORT`.
    pub target: String,
    /// Modbus unit id (slave id).
    #[arg(short, long, default_value_t = 1)]
    pub unit: u8,
    /// Holding registers (FC 03): START:COUNT, 0-based, COUNT in registers.
    #[arg(long, group = "area", value_name = "START:COUNT")]
    pub holding: Option<String>,
    /// Input registers (FC 04): START:COUNT.
    #[arg(long, group = "area", value_name = "START:COUNT")]
    pub input: Option<String>,
    /// Coils (FC 01): START:COUNT.
    #[arg(long, group = "area", value_name = "START:COUNT")]
    pub coils: Option<String>,
    /// Discrete inputs (FC 02): START:COUNT.
    #[arg(long, group = "area", value_name = "START:COUNT")]
    pub discrete: Option<String>,
    /// u16 (default) i16 u32 i32 u64 i64 f32 f64 bool string.
    #[arg(short, long = "type")]
    pub dtype: Option<String>,
    /// Byte order of 4- and 8-byte types: ABCD (default) CDAB BADC DCBA.
    #[arg(short, long)]
    pub order: Option<String>,
    /// Request (and connect) timeout.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// JSON lines {"unit","area","address","type","value","raw"} instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the read. Exit 0 read, 1 the device refused or did not answer, 2 bad arguments.
pub async fn run(args: ReadArgs) -> ExitCode {
    match read(&args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(super::EXIT_CANNOT_RUN)
        }
    }
}

async fn read(args: &ReadArgs) -> anyhow::Result<ExitCode> {
    let target = Target::parse(&args.target)?;
    let (area, text) = [
        (Area::Holding, &args.holding),
        (Area::Input, &args.input),
        (Area::Coil, &args.coils),
        (Area::Discrete, &args.discrete),
    ]
    .into_iter()
    .find_map(|(a, t)| t.as_deref().map(|t| (a, t)))
    .ok_or_else(|| anyhow::anyhow!("give one of --holding, --input, --coils, --discrete"))?;
    let span = Span::parse(area, text)?;
    let dtype = parse_type(args.dtype.as_deref(), &span)?;
    let order = parse_order(args.order.as_deref(), dtype)?;

    let mut links = Links::new(target.clone(), args.timeout);
    let mut link = links.unit(args.unit);
    let values = match read_span(&mut link, span, dtype, order).await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {}", edgeproof::commission::cause::cause(&e));
            return Ok(ExitCode::from(super::EXIT_NEGATIVE));
        }
    };
    link.close().await;
    let order_name = match dtype.order_bytes() {
        Some(8) => order.name8(),
        Some(_) => order.name4(),
        None => "",
    };
    if args.json {
        for v in &values {
            let value = v.value.as_ref().map_or(serde_json::Value::Null, super::probe::value_json);
            let mut line = json!({
                "unit": args.unit,
                "area": area.as_str(),
                "address": v.address,
                "type": dtype.as_str(),
                "value": value,
                "raw": v.raw,
            });
            if let (false, Some(obj)) = (order_name.is_empty(), line.as_object_mut()) {
                obj.insert("order".into(), json!(order_name));
            }
            println!("{line}");
        }
    } else {
        println!(
            "{} {} unit {} — {} {}+{} as {}{}",
            target.protocol(),
            target.name(),
            args.unit,
            area.as_str(),
            span.start,
            span.count,
            dtype.as_str(),
            if order_name.is_empty() { String::new() } else { format!(" {order_name}") }
        );
        println!("  {:>7}  {:<24} raw", "address", "value");
        for v in &values {
            let value = v.value.as_ref().map_or("(undecodable)".to_string(), ToString::to_string);
            let raw = if area.is_bits() {
                v.raw.iter().map(u16::to_string).collect::<Vec<_>>().join(" ")
            } else {
                v.raw.iter().map(|w| format!("{w:04X}")).collect::<Vec<_>>().join(" ")
            };
            println!("  {:>7}  {:<24} {raw}", v.address, value);
        }
    }
    Ok(ExitCode::SUCCESS)
}
