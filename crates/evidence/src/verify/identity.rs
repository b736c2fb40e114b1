//! Check 6, **identity**: origin and gateway id of every record agree with the `enroll`
//! record at seq 0, whose USCC is valid, whose key is the reviewer's key, and whose gateway,
//! USCC and project match what the reviewer expects.

use super::{CheckName, Run};
use crate::record::{Body, SignedRecord};

impl Run<'_> {
    /// Check 6 for one record.
    pub(super) fn identity(&mut self, sr: &SignedRecord) {
        use CheckName::Identity;
        let r = &sr.record;
        if r.origin != self.origin {
            self.f.seq(
                Identity,
                r.seq,
                format!("origin {:?} is not the bundle's {:?}", r.origin, self.origin),
            );
        }
        match (&r.body, r.seq) {
            (Body::Enroll(e), 0) if !self.enrolled => {
                self.enrolled = true;
                self.gateway = Some(r.gw.clone());
                if let Err(why) = crate::uscc::validate(&e.uscc) {
                    self.f.seq(Identity, 0, format!("enrolled USCC is not valid: {why}"));
                }
                if e.key != self.opts.public_key.to_base64() {
                    self.f.seq(
                        Identity,
                        0,
                        "the enroll record names another key than the one given",
                    );
                }
                let expect = [
                    ("gateway id", &self.opts.gateway, &r.gw),
                    ("USCC", &self.opts.uscc, &e.uscc),
                    ("project", &self.opts.project, &e.project),
                ];
                for (what, want, got) in expect {
                    if let Some(want) = want {
                        if want != got {
                            self.f.seq(
                                Identity,
                                0,
                                format!("{what} is {got:?}, expected {want:?}"),
                            );
                        }
                    }
                }
            }
            (Body::Enroll(_), s) => {
                self.f.seq(Identity, s, "an enroll record other than the first (seq 0)");
            }
            (_, 0) => self.f.seq(Identity, 0, "seq 0 is not an enroll record"),
            _ => {}
        }
        if let Some(gw) = &self.gateway {
            if &r.gw != gw {
                self.f.seq(
                    Identity,
                    r.seq,
                    format!("gateway {:?} is not the enrolled {gw:?}", r.gw),
                );
            }
        }
    }
}
