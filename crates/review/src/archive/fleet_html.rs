//! The fleet view as one self-contained HTML page (inline CSS and SVG, no script, nothing
//! from the network), labels in Chinese and English, like the gateway report.

use std::fmt::Write as _;

use super::fleet::{Flag, Fleet, FleetRow};
use edgeproof_evidence::report::calendar::{format_ms, UtcOffset};
use edgeproof_evidence::report::html::esc;

const CSS: &str = "
body{font-family:'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei','PingFang SC',sans-serif;
 margin:0;color:#1d2733;background:#f4f6f8}
main{max-width:1400px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}.en{color:#5b6b7b;font-weight:normal}
.figs{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.fig{background:#fff;border:1px solid #d5dbe1;border-radius:6px;padding:10px 14px;min-width:160px}
.fig .v{font-size:22px;font-weight:bold}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border:1px solid #d5dbe1;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#e9eef2}
tr.w3 td:first-child{border-left:6px solid #b3261e}tr.w2 td:first-child{border-left:6px solid #e8833a}
tr.w1 td:first-child{border-left:6px solid #f2c14e}tr.w0 td:first-child{border-left:6px solid #1f7a3a}
.f3{color:#b3261e;font-weight:bold}.f2{color:#9a5b00;font-weight:bold}.f1{color:#44617b}
.note{font-size:12px;color:#44617b}svg{vertical-align:middle}
.fig.c3 .v{color:#b3261e}.fig.c2 .v{color:#9a5b00}.fig.c1 .v{color:#44617b}.fig.c0 .v{color:#1f7a3a}
.notice{background:#fff8e1;border:1px solid #f2c14e;border-radius:6px;padding:8px 12px;margin:8px 0}
.where{font-size:11px;color:#5b6b7b;font-weight:normal}
";

fn pct(ppm: u64) -> String {
    format!("{}.{}%", ppm / 10_000, ppm / 1_000 % 10)
}

/// A small bar for a coverage figure.
fn bar(ppm: u64) -> String {
    let w = ppm * 80 / 1_000_000;
    let colour = match ppm {
        990_000.. => "#1f7a3a",
        900_000.. => "#5fb26b",
        500_000.. => "#f2c14e",
        1.. => "#e8833a",
        0 => "#c62828",
    };
    format!(
        "<svg width=\"82\" height=\"10\" role=\"img\" aria-label=\"{p}\"><rect x=\"0\" y=\"0\" \
         width=\"82\" height=\"10\" fill=\"#eceff1\"/><rect x=\"1\" y=\"1\" width=\"{w}\" \
         height=\"8\" fill=\"{colour}\"/></svg> {p}",
        p = pct(ppm)
    )
}

fn row_html(h: &mut String, i: usize, r: &FleetRow, offset: UtcOffset) {
    let last = r.last_record_ms.map_or("—".to_string(), |t| format_ms(t, offset));
    let cp = match &r.checkpoint {
        None => "—".to_string(),
        Some(c) => format!(
            "{} · {} · {}<br><span class=\"note\">{}</span>",
            c.size,
            match (c.witnessed, c.other_signatures) {
                (true, _) => format!("见证 witnessed ✓ ({})", c.trusted_cosignatures),
                (false, 0) => "无见证 not witnessed ✗".to_string(),
                (false, _) => "见证未验证 cosigned, unverified ✗".to_string(),
            },
            match c.root {
                "matches" => "根哈希相符 root matches",
                "mismatch" => "根哈希不符 root MISMATCH",
                _ => "记录未齐 records incomplete",
            },
            esc(&format_ms(c.received_ms, offset))
        ),
    };
    let flags = if r.flags.is_empty() {
        "<span class=\"note\">—</span>".to_string()
    } else {
        r.flags
            .iter()
            .map(|f| {
                format!(
                    "<div class=\"f{}\">{}<br><span class=\"where\">{}</span></div>",
                    f.weight,
                    esc(&f.text),
                    esc(&flag_where(f, offset))
                )
            })
            .collect::<String>()
    };
    let _ = writeln!(
        h,
        "<tr class=\"w{}\"><td>{}</td><td><b>{}</b><br><span class=\"note\">{}</span></td>\
         <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td></tr>",
        r.weight(),
        i + 1,
        esc(&r.gateway),
        esc(&r.origin),
        esc(&r.city),
        esc(&r.enterprise),
        esc(&r.project),
        r.records,
        bar(r.coverage_30_ppm),
        bar(r.coverage_90_ppm),
        esc(&last),
        cp,
        flags
    );
}

/// Where and when a flag lies, in words: its seq range and time range, and each range when
/// there are several.
pub fn flag_where(f: &Flag, offset: UtcOffset) -> String {
    let time = |from: Option<u64>, to: Option<u64>| match (from, to) {
        (Some(a), Some(b)) if a == b => format_ms(a, offset),
        (a, b) => format!(
            "{} – {}",
            a.map_or("…".to_string(), |t| format_ms(t, offset)),
            b.map_or("…".to_string(), |t| format_ms(t, offset))
        ),
    };
    let one = |seqs: Option<crate::archive::Span>, from: Option<u64>, to: Option<u64>| {
        let mut parts = Vec::new();
        if let Some(s) = seqs {
            parts.push(s.to_string());
        }
        if from.is_some() || to.is_some() {
            parts.push(time(from, to));
        }
        parts.join(" · ")
    };
    if f.ranges.len() > 1 {
        f.ranges.iter().map(|r| one(r.seqs, r.from_ms, r.to_ms)).collect::<Vec<_>>().join("; ")
    } else {
        one(f.seqs, f.from_ms, f.to_ms)
    }
}

/// Renders the page; times shown in `offset`.
pub fn render(f: &Fleet, offset: UtcOffset) -> String {
    let mut h = String::with_capacity(1024 + 1024 * f.rows.len());
    let hl = f.headline;
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <title>设备使用证据 · 总览 / Fleet evidence summary</title><style>{CSS}</style></head>\
         <body><main>\n<h1>设备使用证据总览 <span class=\"en\">Fleet evidence summary</span></h1>\n\
         <p class=\"note\">截至 as of {} · 筛选 filter: {}</p>\n<div class=\"figs\">\
         <div class=\"fig\"><div class=\"v\">{}</div>网关 gateways shown (of {} registered)</div>\
         <div class=\"fig c3\"><div class=\"v\">{}</div>完整性问题 integrity</div>\
         <div class=\"fig c2\"><div class=\"v\">{}</div>证据缺失 missing evidence</div>\
         <div class=\"fig c1\"><div class=\"v\">{}</div>需注意 attention</div>\
         <div class=\"fig c0\"><div class=\"v\">{}</div>无红旗 no flags</div></div>\n",
        esc(&format_ms(f.now_ms, offset)),
        if f.filter.is_empty() { "—".to_string() } else { esc(&f.filter) },
        f.rows.len(),
        f.registered,
        hl.integrity,
        hl.missing,
        hl.attention,
        hl.clean,
    );
    if let Some(n) = &f.witness_notice {
        let _ = writeln!(h, "<p class=\"notice\">见证 Witness: {}</p>", esc(n));
    }
    h.push_str(
        "<table><thead><tr><th>#</th><th>网关 Gateway</th><th>城市 City</th>\
         <th>企业 Enterprise</th><th>项目 Project</th><th>记录 Records</th>\
         <th>30 天覆盖 30-day coverage</th><th>90 天覆盖 90-day coverage</th>\
         <th>最新记录 Last record</th><th>最新检查点 Last checkpoint</th>\
         <th>红旗 Red flags</th></tr></thead><tbody>\n",
    );
    for (i, r) in f.rows.iter().enumerate() {
        row_html(&mut h, i, r, offset);
    }
    h.push_str(
        "</tbody></table>\n<p class=\"note\">最严重的在前：完整性问题（冲突、签名无效、链接断裂、\
         检查点不符）、缺失（记录缺口、静默）、注意（无见证、覆盖率低于 80%）。Worst first: integrity \
         (conflicts, bad signatures, broken links, checkpoint problems), missing (gaps, silence), \
         attention (no witness cosignature, coverage below 80 %); each gateway counts once, under its \
         heaviest flag. Under each flag: the seqs it concerns and when (gaps: the gateway's time \
         of the records around them; other anomalies: when the collector received them). Coverage = time covered by usage \
         intervals in which a device answered, over the window (from enrolment if later). Each \
         gateway's full report: <code>edgeproof report --db … --gateway ID</code>.</p>\n\
         </main></body></html>\n",
    );
    h
}
