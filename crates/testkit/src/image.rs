//! A register image that covers every type in every byte order, the device-map points that
//! read it, and the values a correct agent must report. Used against the in-process simulator
//! and against pymodbus, with the same expectations.

use edgeproof::source::modbus::{Area, Order};
use edgeproof_sim::RegisterImage;
use serde_json::{json, Value};

/// One point of the fixture.
pub struct Expect {
    /// Point name.
    pub point: String,
    /// The value `probe --json` must print.
    pub value: Value,
}

/// The fixture: `[[devices.points]]` TOML, the image, and the expected values.
pub struct Fixture {
    pub points_toml: String,
    pub image: RegisterImage,
    pub expect: Vec<Expect>,
}

const U64: u64 = 0x0102_0304_0506_0708;

impl Fixture {
    fn point(&mut self, name: &str, area: &str, address: u16, ty: &str, extra: &str, value: Value) {
        self.points_toml.push_str(&format!(
            "  [[devices.points]]\n  name = \"{name}\"\n  area = \"{area}\"\n  address = {address}\n  type = \"{ty}\"\n{extra}"
        ));
        self.expect.push(Expect { point: name.to_string(), value });
    }

    /// Every type × order, scale/offset, strings, bits, coils and discrete inputs.
    pub fn every_type() -> Fixture {
        let mut f =
            Fixture { points_toml: String::new(), image: RegisterImage::new(), expect: vec![] };
        let h = &mut f.image.holding;
        h.set_u16(0, 65535).set_i16(1, -2);
        for (i, order) in Order::ALL.into_iter().enumerate() {
            let i = i as u16;
            h.set_u32(10 + 2 * i, 3_000_000_000, order);
            h.set_i32(20 + 2 * i, -123_456, order);
            h.set_f32(30 + 2 * i, 1234.5, order);
            h.set_u64(40 + 4 * i, U64, order);
            h.set_i64(60 + 4 * i, -1_234_567_890_123, order);
            h.set_f64(80 + 4 * i, 123_456_789.125, order);
        }
        h.set_string(100, "PRG-42", 5);
        h.set_u16(110, 0b1000);
        h.set_f32(120, 0.1, Order::Abcd);
        h.set_u64(130, u64::MAX, Order::Abcd);
        f.image.input.set_i16(0, -123).set_u16(1, 500).set_f32(2, -40.25, Order::Cdab);
        f.image.coils.set(0, true).set(1, false).set(2, true);
        f.image.discrete.set(0, false).set(1, true);

        f.point("u16_max", "holding", 0, "u16", "", json!(65535));
        f.point("i16_neg", "holding", 1, "i16", "", json!(-2));
        for (i, order) in Order::ALL.into_iter().enumerate() {
            let i = i as u16;
            let (o4, o8) = (order.name4(), order.name8());
            let ord4 = format!("  order = \"{o4}\"\n");
            let ord8 = format!("  order = \"{o8}\"\n");
            f.point(
                &format!("u32_{o4}"),
                "holding",
                10 + 2 * i,
                "u32",
                &ord4,
                json!(3_000_000_000u32),
            );
            f.point(&format!("i32_{o4}"), "holding", 20 + 2 * i, "i32", &ord4, json!(-123_456));
            f.point(&format!("f32_{o4}"), "holding", 30 + 2 * i, "f32", &ord4, json!(1234.5));
            f.point(&format!("u64_{o8}"), "holding", 40 + 4 * i, "u64", &ord8, json!(U64));
            f.point(
                &format!("i64_{o8}"),
                "holding",
                60 + 4 * i,
                "i64",
                &ord8,
                json!(-1_234_567_890_123i64),
            );
            f.point(
                &format!("f64_{o8}"),
                "holding",
                80 + 4 * i,
                "f64",
                &ord8,
                json!(123_456_789.125),
            );
        }
        f.point("program", "holding", 100, "string", "  length = 5\n", json!("PRG-42"));
        f.point("status_word", "holding", 110, "u16", "", json!(8));
        f.point("door_open", "holding", 110, "bit", "  bit = 3\n", json!(true));
        f.point("door_closed", "holding", 110, "bit", "  bit = 2\n", json!(false));
        f.point("f32_tenth", "holding", 120, "f32", "", json!(0.1));
        f.point("u64_max", "holding", 130, "u64", "", json!(u64::MAX));
        f.point("temp", "input", 0, "i16", "  scale = 0.1\n  unit = \"°C\"\n", json!(-12.3));
        f.point("scaled", "input", 1, "u16", "  scale = 0.5\n  offset = -10.0\n", json!(240.0));
        f.point("f32_cdab_input", "input", 2, "f32", "  order = \"CDAB\"\n", json!(-40.25));
        f.point("running", "coil", 0, "bool", "", json!(true));
        f.point("fault", "coil", 1, "bool", "", json!(false));
        f.point("guard", "coil", 2, "bool", "", json!(true));
        f.point("estop", "discrete", 0, "bool", "", json!(false));
        f.point("light", "discrete", 1, "bool", "", json!(true));
        f
    }

    /// The image as JSON for tests/interop/pymodbus_server.py (index = protocol address).
    pub fn image_json(&self) -> Value {
        let regs = |area: Area| -> Vec<u16> {
            let t = match area {
                Area::Holding => &self.image.holding,
                _ => &self.image.input,
            };
            (0..t.len()).map(|a| t.get(a as u16).unwrap_or(0)).collect()
        };
        let bits = |area: Area| -> Vec<bool> {
            let t = match area {
                Area::Coil => &self.image.coils,
                _ => &self.image.discrete,
            };
            (0..t.len()).map(|a| t.get(a as u16).unwrap_or(false)).collect()
        };
        json!({
            "holding": regs(Area::Holding),
            "input": regs(Area::Input),
            "coils": bits(Area::Coil),
            "discrete": bits(Area::Discrete),
        })
    }
}
