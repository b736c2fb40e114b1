//! Words the report shows, in Chinese and English: the limits statement, check names, and
//! the explanations printed beside the figures. Kept in one place so both languages say the
//! same thing.

use serde::Serialize;

/// What the evidence can and cannot prove (EVIDENCE.md: every report says this).
#[derive(Debug, Clone, Serialize)]
pub struct Limits {
    /// In English.
    pub en: String,
    /// In Chinese.
    pub zh: String,
}

/// The limits statement.
pub fn limits() -> Limits {
    Limits {
        en: "This log proves which records the enrolled gateway key signed, in which order, and \
             that none is missing, edited or inserted; once a witness you trust has cosigned a \
             checkpoint, also that nothing up to it was cut off or rewritten later. It cannot \
             prove that the devices behind the gateway are real production machines doing real \
             work, nor that the gateway's clock was right: device fingerprints, value digests, \
             response times and clock cross-checks make faking costly and show where to look. \
             Spot-check the devices on site."
            .into(),
        zh: "本日志可以证明：哪些记录由登记的网关密钥签名、其先后顺序，且没有记录被删除、修改或插入；\
             经您信任的见证方对检查点联署后，还可证明此前的记录此后未被截断或改写。本日志不能证明网关\
             背后的设备是真实投产的机器、确实在工作，也不能证明网关时钟准确：设备指纹、数据摘要、响应\
             时间和时钟交叉校验提高了造假成本，并指出应核查之处。请到现场抽查设备。"
            .into(),
    }
}

/// Chinese and English name of a check of EVIDENCE.md §Verification.
pub fn check_label(name: &str) -> (&'static str, &'static str) {
    match name {
        "signatures" => ("签名", "signatures"),
        "chain" => ("链式完整性", "chain (order, gaps, links)"),
        "checkpoints" => ("检查点", "checkpoints"),
        "witness" => ("见证联署", "witness cosignatures"),
        "time" => ("时间一致性", "time"),
        "identity" => ("身份", "identity"),
        _ => ("", "unknown check"),
    }
}

/// Chinese and English for a check status.
pub fn status_label(status: &str) -> (&'static str, &'static str) {
    match status {
        "pass" => ("通过", "pass"),
        "fail" => ("未通过", "FAIL"),
        _ => ("未执行", "skipped"),
    }
}
