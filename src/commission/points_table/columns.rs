//! Which column holds what: vendor tables name their columns in Chinese or English, with
//! units in brackets (`地址(十进制)`, `采集周期(ms)`). A header is matched exactly first, then
//! by a known word it contains.

/// A column `import` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// Device the row belongs to (a table for several devices).
    Device,
    /// Point name.
    Name,
    /// Area or function code.
    Area,
    /// Address.
    Address,
    /// Data type.
    Type,
    /// Byte order.
    Order,
    /// Scale factor.
    Scale,
    /// Offset.
    Offset,
    /// Engineering unit.
    Unit,
    /// Poll interval.
    Poll,
}

impl Column {
    /// What the column is called in messages.
    pub fn label(self) -> &'static str {
        match self {
            Column::Device => "device (设备)",
            Column::Name => "name (名称)",
            Column::Area => "area (寄存器类型)",
            Column::Address => "address (地址)",
            Column::Type => "type (数据类型)",
            Column::Order => "order (字节序)",
            Column::Scale => "scale (倍率)",
            Column::Offset => "offset (偏移)",
            Column::Unit => "unit (单位)",
            Column::Poll => "poll (采集周期)",
        }
    }
}

/// Header words per column, most specific first. Exact matches win over contained words, and
/// the columns are tried in this order (数据类型 before 寄存器类型, 单位 only exactly or as a
/// word of its own).
const WORDS: &[(Column, &[&str], &[&str])] = &[
    // (column, exact names, contained words)
    (Column::Device, &["device", "设备", "设备名", "设备名称", "从站名称"], &["设备名"]),
    (
        Column::Type,
        &["type", "datatype", "data type", "数据类型", "类型", "数据格式", "格式", "值类型"],
        &["数据类型", "数据格式", "datatype", "data type", "值类型"],
    ),
    (
        Column::Area,
        &[
            "area",
            "register type",
            "registertype",
            "function",
            "function code",
            "fc",
            "寄存器类型",
            "功能码",
            "区域",
            "寄存器区",
            "读功能码",
        ],
        &["寄存器类型", "功能码", "register type", "function code", "寄存器区"],
    ),
    (
        Column::Name,
        &[
            "name",
            "point",
            "point name",
            "tag",
            "tag name",
            "名称",
            "点位名",
            "点位名称",
            "点名",
            "变量名",
            "参数名",
            "参数名称",
            "测点名称",
            "数据项",
        ],
        &["名称", "点位名", "点名", "变量名", "参数名", "point name", "tag name"],
    ),
    (
        Column::Address,
        &[
            "address",
            "addr",
            "register",
            "register address",
            "地址",
            "寄存器地址",
            "起始地址",
            "偏移地址",
        ],
        &["地址", "address"],
    ),
    (
        Column::Order,
        &[
            "order",
            "byte order",
            "byteorder",
            "endian",
            "endianness",
            "字节序",
            "字节顺序",
            "大小端",
            "高低字节",
        ],
        &["字节序", "字节顺序", "byte order", "大小端"],
    ),
    (
        Column::Scale,
        &["scale", "multiplier", "factor", "ratio", "倍率", "系数", "比例", "乘数", "倍数", "变比"],
        &["倍率", "系数", "比例", "scale", "multiplier"],
    ),
    (Column::Offset, &["offset", "偏移", "偏移量", "偏置", "基值"], &["偏移量", "offset"]),
    (Column::Unit, &["unit", "units", "eng unit", "单位", "工程单位"], &["单位"]),
    (
        Column::Poll,
        &[
            "poll",
            "interval",
            "period",
            "poll interval",
            "采集周期",
            "周期",
            "采样周期",
            "扫描周期",
            "刷新周期",
        ],
        &["周期", "interval", "poll"],
    ),
];

/// The header without bracketed notes, spaces or case: `地址（十进制）` → `地址`.
pub fn normalize(header: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in header.chars() {
        match c {
            '(' | '（' | '[' | '【' => depth += 1,
            ')' | '）' | ']' | '】' => depth = (depth - 1).max(0),
            _ if depth > 0 => {}
            c if c.is_whitespace() || c == '_' || c == '-' => out.push(' '),
            c => out.extend(c.to_lowercase()),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The column a header names, if any.
pub fn classify(header: &str) -> Option<Column> {
    let h = normalize(header);
    if h.is_empty() {
        return None;
    }
    WORDS
        .iter()
        .find(|(_, exact, _)| exact.contains(&h.as_str()))
        .or_else(|| WORDS.iter().find(|(_, _, words)| words.iter().any(|w| h.contains(w))))
        .map(|(c, _, _)| *c)
}

/// Whether the poll column's header says its plain numbers are seconds (`周期(s)`, `秒`).
pub fn poll_in_seconds(header: &str) -> bool {
    let h = header.to_lowercase();
    h.contains("(s)") || h.contains("（s）") || h.contains('秒') || h.contains("sec")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_and_english_headers_are_recognised() {
        let cases = [
            ("名称", Some(Column::Name)),
            ("点位名", Some(Column::Name)),
            ("测点名称", Some(Column::Name)),
            ("地址", Some(Column::Address)),
            ("寄存器地址（十进制）", Some(Column::Address)),
            ("寄存器类型", Some(Column::Area)),
            ("功能码", Some(Column::Area)),
            ("数据类型", Some(Column::Type)),
            ("字节序", Some(Column::Order)),
            ("倍率", Some(Column::Scale)),
            ("系数", Some(Column::Scale)),
            ("偏移", Some(Column::Offset)),
            ("单位", Some(Column::Unit)),
            ("采集周期(ms)", Some(Column::Poll)),
            ("Point Name", Some(Column::Name)),
            ("Data Type", Some(Column::Type)),
            ("Register Type", Some(Column::Area)),
            ("Byte Order", Some(Column::Order)),
            ("Scale", Some(Column::Scale)),
            ("Unit", Some(Column::Unit)),
            ("备注", None),
            ("序号", None),
        ];
        for (header, want) in cases {
            assert_eq!(classify(header), want, "{header}");
        }
        assert!(poll_in_seconds("采集周期(s)") && !poll_in_seconds("采集周期(ms)"));
    }
}
