//! The report as one self-contained HTML page: inline CSS, inline SVG charts, no script, no
//! font or image from the network — it opens the same way offline, years from now. Every
//! label is in Chinese and English.

use std::fmt::Write as _;

use super::calendar::{self, UtcOffset};
use super::model::{DayReport, GapClass, Report};
use super::text;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn pct(ppm: u64) -> String {
    format!("{}.{}%", ppm / 10_000, ppm / 1_000 % 10)
}

const CSS: &str = "
body{font-family:'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei','PingFang SC',sans-serif;
 margin:0;color:#1d2733;background:#f4f6f8}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d5dbe1;padding-bottom:4px}
.en{color:#5b6b7b;font-weight:normal}
.banner{border-radius:6px;padding:14px 18px;color:#fff;margin:16px 0}
.ok{background:#1f7a3a}.bad{background:#b3261e}
.banner .big{font-size:22px;font-weight:bold}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border:1px solid #d5dbe1;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#e9eef2}
.kv th{width:28%}
.figs{display:flex;gap:12px;flex-wrap:wrap}
.fig{background:#fff;border:1px solid #d5dbe1;border-radius:6px;padding:10px 14px;min-width:180px}
.fig .v{font-size:22px;font-weight:bold}
.sev-fail{color:#b3261e;font-weight:bold}.sev-warn{color:#9a5b00;font-weight:bold}.sev-info{color:#44617b}
.st-pass{color:#1f7a3a}.st-fail{color:#b3261e;font-weight:bold}.st-skipped{color:#7a7a7a}
.note{font-size:12px;color:#44617b}
svg{background:#fff;border:1px solid #d5dbe1;display:block;margin:6px 0}
.limits{background:#fff8e1;border:1px solid #e0c36a;border-radius:6px;padding:10px 14px}
";

/// Cell colour for a day's coverage.
fn coverage_colour(d: &DayReport) -> &'static str {
    match d.coverage_ppm {
        _ if d.expected_ms == 0 => "#eceff1",
        990_000.. => "#1f7a3a",
        900_000.. => "#5fb26b",
        500_000.. => "#f2c14e",
        1.. => "#e8833a",
        0 => "#c62828",
    }
}

/// Renders the page.
pub fn render(r: &Report) -> String {
    let offset = UtcOffset(r.period.utc_offset);
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>网关使用证据报告 · Usage evidence report — {}</title><style>{CSS}</style></head><body><main>\n",
        esc(&r.header.gateway)
    );
    let _ = writeln!(
        h,
        "<h1>网关使用证据报告 <span class=\"en\">Gateway usage evidence report</span></h1>\
         <div class=\"note\">{} · {} – {} (UTC{})</div>",
        esc(&r.header.origin),
        calendar::format_ms(r.period.from_ms, offset),
        calendar::format_ms(r.period.to_ms, offset),
        offset
    );
    verdict(&mut h, r);
    header(&mut h, r);
    figures(&mut h, r);
    calendar_svg(&mut h, r, offset);
    devices_chart(&mut h, r);
    gaps(&mut h, r, offset);
    devices(&mut h, r);
    scenes(&mut h, r);
    anomalies(&mut h, r);
    definitions(&mut h);
    let _ = write!(
        h,
        "<h2>证据的局限 <span class=\"en\">What this evidence cannot prove</span></h2>\
         <div class=\"limits\"><p>{}</p><p>{}</p></div>\n\
         <p class=\"note\">{} · 本报告为独立文件，不访问网络 / self-contained, no network access.</p>\
         </main></body></html>\n",
        esc(&r.limits.zh),
        esc(&r.limits.en),
        esc(&r.generated_by)
    );
    h
}

fn verdict(h: &mut String, r: &Report) {
    let (class, zh, en) = if r.verdict.intact {
        ("ok", "完整：未发现篡改", "INTACT: no tampering found")
    } else {
        ("bad", "未通过：已篡改或不完整", "FAILED: tampered or incomplete")
    };
    let _ = write!(h, "<div class=\"banner {class}\"><div class=\"big\">{zh} · {en}</div>");
    let _ = write!(h, "<div>");
    for c in &r.verdict.checks {
        let (zh_name, en_name) = text::check_label(&c.name);
        let (zh_st, en_st) = text::status_label(&c.status);
        let _ = write!(h, "{}. {zh_name} / {en_name}: {zh_st} {en_st}　", c.number);
    }
    let _ = write!(h, "</div>");
    if !r.verdict.witnessed {
        let _ = write!(
            h,
            "<div class=\"note\" style=\"color:#fff\">无见证联署：无法排除持有网关密钥者截断或整体重写日志。\
             No witness cosignature: truncation after the last checkpoint, or a log re-signed by \
             whoever holds the gateway key, cannot be excluded.</div>"
        );
    }
    let _ = writeln!(h, "</div>");
    let failed: Vec<_> = r.verdict.checks.iter().filter(|c| !c.findings.is_empty()).collect();
    if !failed.is_empty() {
        let _ = write!(h, "<table><tr><th>校验 / check</th><th>发现 / findings</th></tr>");
        for c in failed {
            let _ = write!(h, "<tr><td class=\"st-fail\">{}. {}</td><td>", c.number, esc(&c.name));
            for f in &c.findings {
                let _ = write!(h, "{}<br>", esc(f));
            }
            let _ = write!(h, "</td></tr>");
        }
        let _ = writeln!(h, "</table>");
    }
}

fn header(h: &mut String, r: &Report) {
    let x = &r.header;
    let rows: [(&str, &str, String); 11] = [
        ("企业统一社会信用代码", "Enterprise USCC", x.uscc.clone()),
        ("项目编号", "Project", x.project.clone()),
        ("合同编号", "Contract", x.contract.clone()),
        ("网关", "Gateway", x.gateway.clone()),
        ("日志名", "Log origin", x.origin.clone()),
        ("网关公钥指纹", "Gateway key fingerprint", x.key_fingerprint.clone()),
        ("密钥保护方式", "Key assurance", x.key_assurance.clone()),
        ("采集程序版本", "Agent version", x.agent_version.clone()),
        (
            "记录数 / 检查点数",
            "Records / checkpoints",
            format!("{} / {}", x.records, x.checkpoints),
        ),
        ("启动次数", "Agent starts", x.starts.to_string()),
        ("不可读记录", "Unreadable records", x.unreadable_records.to_string()),
    ];
    let _ =
        write!(h, "<h2>基本信息 <span class=\"en\">Who and what</span></h2><table class=\"kv\">");
    for (zh, en, v) in rows {
        let _ =
            write!(h, "<tr><th>{zh} <span class=\"en\">{en}</span></th><td>{}</td></tr>", esc(&v));
    }
    let _ = writeln!(h, "</table>");
}

fn figures(h: &mut String, r: &Report) {
    let n = &r.networking;
    let unexplained = r.gaps.iter().filter(|g| g.class == GapClass::Unexplained).count();
    let figs = [
        ("运行覆盖率", "coverage", pct(r.coverage_ppm)),
        ("见证覆盖率", "witnessed coverage", witnessed(r)),
        ("见证范围", "witness reach", reach(r)),
        ("设备联网率", "networked rate", format!("{} ({})", pct(n.rate_ppm), n.band)),
        (
            "联网设备 / 登记 / 总数",
            "active / declared / factory total",
            format!("{} / {} / {}", n.active, n.declared, n.production_devices),
        ),
        ("中断", "gaps", format!("{} ({} 原因不明 unexplained)", r.gaps.len(), unexplained)),
        ("异常提示", "findings", r.anomalies.len().to_string()),
        ("统计周期", "usage interval", r.interval_ms.map_or("—".into(), calendar::format_duration)),
    ];
    let _ = write!(h, "<h2>概览 <span class=\"en\">Summary</span></h2><div class=\"figs\">");
    for (zh, en, v) in figs {
        let _ = write!(
            h,
            "<div class=\"fig\"><div>{zh} <span class=\"en\">{en}</span></div><div class=\"v\">{}</div></div>",
            esc(&v)
        );
    }
    let _ = writeln!(h, "</div>");
}

/// Witnessed coverage, or why there is none.
fn witnessed(r: &Report) -> String {
    if r.witness.trusted_witnesses {
        pct(r.witnessed_coverage_ppm)
    } else {
        "— (无见证方密钥 no witness key)".into()
    }
}

/// How far the witness reaches, in one line.
fn reach(r: &Report) -> String {
    let w = &r.witness;
    if !w.trusted_witnesses {
        return "—".into();
    }
    let upto = match (w.first_witnessed_seq, w.last_witnessed_seq) {
        (Some(a), Some(b)) => format!("seq {a}–{b}"),
        _ => "无 none".into(),
    };
    format!(
        "{upto} · 未见证 not yet witnessed {} · 迟见证 witnessed late {} (> {})",
        w.not_yet_witnessed,
        w.witnessed_late,
        calendar::format_duration(w.max_lag_ms)
    )
}

fn calendar_svg(h: &mut String, r: &Report, _offset: UtcOffset) {
    let _ = write!(
        h,
        "<h2>每日运行覆盖率 <span class=\"en\">Daily coverage</span></h2>\
         <div class=\"note\">每格一天；颜色为当天有设备成功应答的统计周期所占比例。\
         One cell per day; colour = share of the day covered by usage intervals in which a device answered.</div>"
    );
    if r.days.is_empty() {
        let _ = write!(h, "<p>—</p>");
        return;
    }
    const CELL: i64 = 14;
    const STEP: i64 = 16;
    const LEFT: i64 = 34;
    const TOP: i64 = 22;
    // One SVG per calendar year, GitHub-style: columns are weeks (Monday first).
    let mut years: Vec<(i64, Vec<&DayReport>)> = Vec::new();
    for d in &r.days {
        let y = calendar::civil_from_days(d.day).year;
        match years.last_mut() {
            Some((yy, v)) if *yy == y => v.push(d),
            _ => years.push((y, vec![d])),
        }
    }
    for (year, days) in years {
        let Some(first) = days.first() else { continue };
        let week0 = first.day - i64::from(calendar::weekday(first.day));
        let weeks = days.last().map_or(1, |l| (l.day - week0) / 7 + 1);
        let width = LEFT + weeks * STEP + 10;
        let height = TOP + 7 * STEP + 8;
        let _ = write!(
            h,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
             role=\"img\" aria-label=\"coverage {year}\"><text x=\"2\" y=\"14\" font-size=\"12\">{year}</text>"
        );
        for (k, label) in ["一 Mo", "三 We", "五 Fr"].iter().enumerate() {
            let y = TOP + (k as i64 * 2) * STEP + 11;
            let _ = write!(h, "<text x=\"2\" y=\"{y}\" font-size=\"8\">{label}</text>");
        }
        let mut last_month = 0;
        for d in &days {
            let col = (d.day - week0) / 7;
            let row = i64::from(calendar::weekday(d.day));
            let (x, y) = (LEFT + col * STEP, TOP + row * STEP);
            let date = calendar::civil_from_days(d.day);
            if date.month != last_month && (row == 0 || d.day == first.day) {
                let _ = write!(
                    h,
                    "<text x=\"{x}\" y=\"{}\" font-size=\"9\">{}月</text>",
                    TOP - 4,
                    date.month
                );
                last_month = date.month;
            }
            let _ = write!(
                h,
                "<rect x=\"{x}\" y=\"{y}\" width=\"{CELL}\" height=\"{CELL}\" rx=\"2\" fill=\"{}\">\
                 <title>{} · {} · {} 台设备 devices</title></rect>",
                coverage_colour(d),
                d.date,
                if d.expected_ms == 0 { "—".to_string() } else { pct(d.coverage_ppm) },
                d.active_devices.len()
            );
        }
        let _ = writeln!(h, "</svg>");
    }
    let legend = [
        ("#1f7a3a", "≥ 99%"),
        ("#5fb26b", "90–99%"),
        ("#f2c14e", "50–90%"),
        ("#e8833a", "0–50%"),
        ("#c62828", "0"),
        ("#eceff1", "期外 outside"),
    ];
    let _ = write!(h, "<div class=\"note\">");
    for (c, l) in legend {
        let _ = write!(h, "<span style=\"display:inline-block;width:10px;height:10px;background:{c}\"></span> {l}　");
    }
    let _ = writeln!(h, "</div>");
}

fn devices_chart(h: &mut String, r: &Report) {
    let _ = write!(
        h,
        "<h2>每日联网设备数 <span class=\"en\">Devices active per day</span></h2>\
         <div class=\"note\">柱：当天有成功应答的设备数；虚线：登记设备数；实线：工厂生产设备总数。\
         Bars: devices that answered that day; dashed: declared devices; solid: production devices in the factory.</div>"
    );
    let n = r.days.len().max(1) as i64;
    let max = r
        .days
        .iter()
        .map(|d| d.active_devices.len() as u64)
        .chain([r.networking.declared, r.networking.production_devices])
        .max()
        .unwrap_or(1)
        .max(1) as i64;
    let (left, top, plot_h) = (36i64, 10i64, 120i64);
    let bar = (900 / n).clamp(2, 24);
    let width = left + n * bar + 20;
    let height = top + plot_h + 30;
    let y_of = |v: i64| top + plot_h - v * plot_h / max;
    let _ = write!(
        h,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\" \
         aria-label=\"devices active per day\">"
    );
    let _ = write!(
        h,
        "<text x=\"2\" y=\"{}\" font-size=\"10\">{max}</text><text x=\"2\" y=\"{}\" font-size=\"10\">0</text>",
        top + 8,
        top + plot_h
    );
    for (k, d) in r.days.iter().enumerate() {
        let v = d.active_devices.len() as i64;
        let x = left + k as i64 * bar;
        let y = y_of(v);
        let _ = write!(
            h,
            "<rect x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"#3b6ea5\"><title>{} · {v}</title></rect>",
            (bar - 1).max(1),
            top + plot_h - y,
            d.date
        );
    }
    let x1 = left + n * bar;
    let yd = y_of(r.networking.declared as i64);
    let yp = y_of(r.networking.production_devices as i64);
    let _ = write!(
        h,
        "<line x1=\"{left}\" y1=\"{yd}\" x2=\"{x1}\" y2=\"{yd}\" stroke=\"#9a5b00\" stroke-dasharray=\"4 3\"/>\
         <line x1=\"{left}\" y1=\"{yp}\" x2=\"{x1}\" y2=\"{yp}\" stroke=\"#b3261e\"/>"
    );
    if let (Some(a), Some(b)) = (r.days.first(), r.days.last().filter(|_| r.days.len() > 1)) {
        let _ = write!(
            h,
            "<text x=\"{left}\" y=\"{}\" font-size=\"10\">{}</text>\
             <text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
            top + plot_h + 14,
            a.date,
            x1,
            top + plot_h + 14,
            b.date
        );
    }
    if let [only] = r.days.as_slice() {
        let _ = write!(
            h,
            "<text x=\"{left}\" y=\"{}\" font-size=\"10\">{}</text>",
            top + plot_h + 14,
            only.date
        );
    }
    let _ = writeln!(h, "</svg>");
}

fn gaps(h: &mut String, r: &Report, offset: UtcOffset) {
    let _ = write!(h, "<h2>中断及原因 <span class=\"en\">Gaps and their class</span></h2>");
    if r.gaps.is_empty() {
        let _ = writeln!(h, "<p>无 · none</p>");
        return;
    }
    let _ = write!(
        h,
        "<table><tr><th>类别 <span class=\"en\">class</span></th><th>开始 <span class=\"en\">from</span></th>\
         <th>结束 <span class=\"en\">to</span></th><th>时长 <span class=\"en\">length</span></th>\
         <th>记录 <span class=\"en\">seq</span></th><th>说明 <span class=\"en\">detail</span></th></tr>"
    );
    for g in &r.gaps {
        let (zh, en) = g.class.label();
        let _ = write!(
            h,
            "<tr><td>{zh}<br><span class=\"en\">{en}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            calendar::format_ms(g.from_ms, offset),
            calendar::format_ms(g.to_ms, offset),
            calendar::format_duration(g.duration_ms),
            g.seq,
            esc(&g.detail)
        );
    }
    let _ = writeln!(h, "</table>");
}

fn devices(h: &mut String, r: &Report) {
    let n = &r.networking;
    let _ = write!(
        h,
        "<h2>设备与设备联网率 <span class=\"en\">Devices and networked rate</span></h2>\
         <p>设备联网率 <span class=\"en\">networked rate</span>: <b>{} / {} = {}</b>，区间 band <b>{}</b>\
         <span class=\"note\">（期间内至少一天成功应答的登记设备 ÷ 工厂生产设备总数 / declared devices that \
         answered on at least one day ÷ production devices in the factory）</span></p>",
        n.active,
        n.production_devices,
        pct(n.rate_ppm),
        esc(&n.band)
    );
    let _ = write!(
        h,
        "<table><tr><th>设备 <span class=\"en\">device</span></th><th>协议/地址 <span class=\"en\">protocol / endpoint</span></th>\
         <th>铭牌 <span class=\"en\">vendor / model</span></th><th>场景 <span class=\"en\">scene</span></th>\
         <th>在线天数 <span class=\"en\">active days</span></th><th>读数/变化 <span class=\"en\">read / changed</span></th>\
         <th>应答/失败 <span class=\"en\">polls ok / failed</span></th><th>身份 <span class=\"en\">identity</span></th></tr>"
    );
    for d in &r.devices {
        let identity: Vec<String> = d.identity.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let flags = format!(
            "{}{}{}",
            if d.declared { "" } else { " ⚠ 未登记 undeclared" },
            if d.endpoint_local { " ⚠ 本机地址 local endpoint" } else { "" },
            if d.fingerprints > 1 { " ⚠ 指纹变化 fingerprint changed" } else { "" },
        );
        let _ = write!(
            h,
            "<tr><td>{}{}</td><td>{}<br>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{} / {}</td><td>{} / {}</td><td>{}</td></tr>",
            esc(&d.id),
            esc(&flags),
            esc(&d.protocol),
            esc(&d.endpoint),
            esc(&d.vendor),
            esc(&d.model),
            esc(&d.scene),
            d.active_days,
            d.points_read,
            d.points_changed,
            d.polls_ok,
            d.polls_failed,
            esc(&identity.join(", "))
        );
    }
    let _ = writeln!(h, "</table>");
}

fn scenes(h: &mut String, r: &Report) {
    let _ = write!(
        h,
        "<h2>应用场景 <span class=\"en\">Scene tags with data flowing</span></h2>\
         <table><tr><th>场景 <span class=\"en\">scene</span></th><th>登记设备 <span class=\"en\">devices</span></th>\
         <th>有数据设备 <span class=\"en\">active</span></th><th>有数据天数 <span class=\"en\">days with data</span></th>\
         <th>读数 <span class=\"en\">points read</span></th></tr>"
    );
    for s in &r.scenes {
        let name = if s.scene.is_empty() {
            "未标注 <span class=\"en\">untagged</span>".to_string()
        } else {
            esc(&s.scene)
        };
        let _ = write!(
            h,
            "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.devices.join(", ")),
            s.active_devices,
            s.days_with_data,
            s.points_read
        );
    }
    let _ = writeln!(h, "</table>");
}

fn anomalies(h: &mut String, r: &Report) {
    let _ = write!(h, "<h2>异常与提示 <span class=\"en\">Anomalies</span></h2>");
    if r.anomalies.is_empty() {
        let _ = writeln!(h, "<p>无 · none</p>");
        return;
    }
    let _ = write!(
        h,
        "<table><tr><th>级别 <span class=\"en\">severity</span></th><th>记录 <span class=\"en\">seq</span></th>\
         <th>说明 <span class=\"en\">finding</span></th></tr>"
    );
    for a in &r.anomalies {
        let (zh, en) = match a.severity {
            "fail" => ("校验失败", "fail"),
            "warn" => ("警告", "warning"),
            _ => ("提示", "info"),
        };
        let _ = write!(
            h,
            "<tr><td class=\"sev-{}\">{zh} {en}</td><td>{}</td><td>{}<br><span class=\"en\">{}</span></td></tr>",
            a.severity,
            a.seq.map_or("—".into(), |s| s.to_string()),
            esc(&a.zh),
            esc(&a.en)
        );
    }
    let _ = writeln!(h, "</table>");
}

fn definitions(h: &mut String) {
    let _ = writeln!(
        h,
        "<h2>口径说明 <span class=\"en\">How the figures are computed</span></h2><ul class=\"note\">\
         <li>覆盖率：统计期（登记或 --from 起，至 --to / --at / 生成报告之时）内，被“至少一台设备成功应答”的统计周期覆盖的时间占比；沉默或被截断的尾部会降低覆盖率。\
         Coverage: share of the period asked for (enrolment or --from, to --to / --at / now) covered by usage intervals in which at least one device answered; silence and a cut tail lower it.</li>\
         <li>见证覆盖率：同上，但只计入其记录在允许时延内（--max-witness-lag，默认 6 小时）由可信见证方联署的统计周期。联署只证明记录不晚于联署时间；事后补写的记录即使被联署也不计入。\
         Witnessed coverage: the same, counting only intervals whose record a trusted witness cosigned within the allowed lag (--max-witness-lag, default 6 h). A cosignature only proves a record existed by then; records written after the fact do not count even when cosigned.</li>\
         <li>中断：每次重启造成的空档，以及同一次运行中相邻统计周期之间超过 1 秒的空档，按日志所述原因分类：停机记录（正常停机）；下次启动记录注明非正常结束且系统重启（断电）或未重启（进程被杀/崩溃）；无任何说明（原因不明）。\
         Gaps: every restart, and holes of over 1 s between usage intervals of one run, classed by what the log says: a shutdown record (clean stop); the next boot record says the run ended uncleanly with a new OS boot (power loss) or the same one (killed / crashed); nothing (unexplained).</li>\
         <li>网络中断：采集照常但 MQTT 服务器无任何确认的连续统计周期；此后确认的数据量达到中断结束时的积压量即视为已补传。\
         Outages: consecutive intervals with samples journaled and none acknowledged by the broker; back-filled once the samples acknowledged afterwards reach the backlog at its end.</li>\
         <li>设备联网率：期间内至少一天成功应答的登记设备数 ÷ 工厂生产设备总数（登记时申报），以 10 个百分点为一档。\
         Networked rate: declared devices that answered on at least one day ÷ the factory's production devices declared at enrolment; bands of 10 points.</li>\
         </ul>"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(esc("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
        assert_eq!(pct(123_456), "12.3%");
        assert_eq!(pct(1_000_000), "100.0%");
    }
}
