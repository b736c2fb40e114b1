//! `verify` over any bytes as a bundle: it must return (a verdict or an input error), never
//! panic, and never take long. A fixed key and witness make the signature paths reachable
//! when the input is a mutated real bundle (seed corpus: `fuzz/corpus/verify/`).

use edgeproof_evidence::bundle::Limits;
use edgeproof_evidence::cosignature::WitnessKey;
use edgeproof_evidence::verify::{verify_bundle, VerifyOptions};
use edgeproof_evidence::GatewayKey;

pub fn run(data: &[u8]) {
    let gateway = GatewayKey::from_seed([13; 32]);
    let witness = GatewayKey::from_seed([77; 32]);
    let mut opts = VerifyOptions::new(gateway.public());
    opts.witnesses
        .push(WitnessKey { name: "witness.example.org/w1".into(), key: witness.public() });
    opts.limits = Limits { max_line_bytes: 1 << 16, max_lines: 10_000, max_bytes: 1 << 20 };
    let _ = verify_bundle(data, &opts);
}
