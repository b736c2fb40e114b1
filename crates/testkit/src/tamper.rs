//! Ways to tamper with an evidence bundle, each a function from bundle bytes to bundle bytes.
//! They work on any bundle — one the fake gateway wrote or one `edgeproof export` wrote from a
//! real agent — and touch only what the attack touches.

use edgeproof::evidence::bundle::{checkpoint_line, record_line};
use edgeproof::evidence::canonical;
use edgeproof::evidence::checkpoint::Checkpoint;
use edgeproof::evidence::keys::GatewayKey;
use edgeproof::evidence::merkle::{leaf_hash, Hash, Tree};
use edgeproof::evidence::note::SignedNote;
use edgeproof::evidence::record::{Record, SignedRecord};
use edgeproof::evidence::sign::sign_record;
use serde_json::Value;

/// One line of a bundle, split by kind.
#[derive(Clone, Debug)]
pub enum Item {
    /// A record line, parsed.
    Record(Value),
    /// A checkpoint line: the note text.
    Checkpoint(String),
    /// Anything else, verbatim (header, cosignatures).
    Other(String),
}

/// Splits a bundle into its lines.
pub fn parse(bundle: &[u8]) -> Vec<Item> {
    let text = std::str::from_utf8(bundle).expect("bundle is UTF-8");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("bundle line is JSON");
            if let Some(r) = v.get("record") {
                Item::Record(r.clone())
            } else if let Some(Value::String(c)) = v.get("checkpoint") {
                Item::Checkpoint(c.clone())
            } else {
                Item::Other(l.to_string())
            }
        })
        .collect()
}

/// Joins lines back into a bundle.
pub fn join(items: &[Item]) -> Vec<u8> {
    let mut out = Vec::new();
    for i in items {
        match i {
            Item::Record(v) => out.extend(record_line(&canonical::encode(v).expect("canonical"))),
            Item::Checkpoint(c) => out.extend(checkpoint_line(c).into_bytes()),
            Item::Other(l) => {
                out.extend_from_slice(l.as_bytes());
                out.push(b'\n');
            }
        }
    }
    out
}

fn seq(v: &Value) -> u64 {
    v["seq"].as_u64().expect("record has a seq")
}

fn position(items: &[Item], s: u64) -> usize {
    items
        .iter()
        .position(|i| matches!(i, Item::Record(v) if seq(v) == s))
        .unwrap_or_else(|| panic!("no record with seq {s}"))
}

/// Record count.
pub fn record_count(bundle: &[u8]) -> u64 {
    parse(bundle).iter().filter(|i| matches!(i, Item::Record(_))).count() as u64
}

/// Seqs of the records of a type, in bundle order.
pub fn seqs_of_type(bundle: &[u8], typ: &str) -> Vec<u64> {
    parse(bundle)
        .iter()
        .filter_map(|i| match i {
            Item::Record(v) if v["typ"] == typ => Some(seq(v)),
            _ => None,
        })
        .collect()
}

/// Largest checkpoint size in the bundle.
pub fn largest_checkpoint(bundle: &[u8]) -> u64 {
    parse(bundle)
        .iter()
        .filter_map(|i| match i {
            Item::Checkpoint(c) => {
                SignedNote::parse(c).ok().and_then(|n| Checkpoint::parse_body(&n.text).ok())
            }
            _ => None,
        })
        .map(|c| c.size)
        .max()
        .unwrap_or(0)
}

/// Removes the record with this seq.
pub fn delete_record(bundle: &[u8], s: u64) -> Vec<u8> {
    let mut items = parse(bundle);
    items.remove(position(&items, s));
    join(&items)
}

/// Sets a field (a JSON pointer such as `/body/devices/0/points_read`) without re-signing.
pub fn edit_field(bundle: &[u8], s: u64, pointer: &str, value: Value) -> Vec<u8> {
    let mut items = parse(bundle);
    let p = position(&items, s);
    if let Item::Record(v) = &mut items[p] {
        *v.pointer_mut(pointer).unwrap_or_else(|| panic!("no {pointer} in seq {s}")) = value;
    }
    join(&items)
}

/// Exchanges the lines of two records.
pub fn swap_records(bundle: &[u8], a: u64, b: u64) -> Vec<u8> {
    let mut items = parse(bundle);
    let (pa, pb) = (position(&items, a), position(&items, b));
    items.swap(pa, pb);
    join(&items)
}

/// Repeats a record right after itself.
pub fn duplicate_record(bundle: &[u8], s: u64) -> Vec<u8> {
    let mut items = parse(bundle);
    let p = position(&items, s);
    let copy = items[p].clone();
    items.insert(p + 1, copy);
    join(&items)
}

/// Replaces the record with seq `s` by the record with the same seq from another bundle.
pub fn splice_record(bundle: &[u8], other: &[u8], s: u64) -> Vec<u8> {
    let mut items = parse(bundle);
    let theirs = parse(other);
    let p = position(&items, s);
    items[p] = theirs[position(&theirs, s)].clone();
    join(&items)
}

/// Drops every record from seq `keep` on, keeping all checkpoint and cosignature lines:
/// a tail cut below what a checkpoint already covers.
pub fn truncate_from(bundle: &[u8], keep: u64) -> Vec<u8> {
    let items: Vec<Item> = parse(bundle)
        .into_iter()
        .filter(|i| !matches!(i, Item::Record(v) if seq(v) >= keep))
        .collect();
    join(&items)
}

/// Rewrites history with the right key: applies `edit` to every record (re-signing all of
/// them and relinking `prev`), and replaces every checkpoint by one of the same size over the
/// new records, signed with `key`. Cosignature lines are left as they were — they are what
/// the gateway cannot forge.
pub fn resign(bundle: &[u8], key: &GatewayKey, mut edit: impl FnMut(&mut Record)) -> Vec<u8> {
    let items = parse(bundle);
    let mut out = Vec::with_capacity(items.len());
    let mut tree = Tree::new();
    let mut prev = Hash::ZERO;
    for item in items {
        match item {
            Item::Record(v) => {
                let mut r = SignedRecord::from_value(&v).expect("v1 record").record;
                edit(&mut r);
                r.prev = prev;
                let signed = sign_record(key, r).expect("sign");
                let bytes = signed.canonical().expect("canonical");
                prev = leaf_hash(&bytes);
                tree.push(prev);
                out.push(Item::Record(canonical::parse(&bytes).expect("parse")));
            }
            Item::Checkpoint(c) => {
                let note = SignedNote::parse(&c).expect("note");
                let old = Checkpoint::parse_body(&note.text).expect("checkpoint");
                let root = tree.root_at(old.size).expect("checkpoint within the records so far");
                let new = Checkpoint::new(old.origin, old.size, root);
                out.push(Item::Checkpoint(new.sign(key).to_text()));
            }
            other => out.push(other),
        }
    }
    join(&out)
}

/// A backdated copy: shifts the wall clock of records `[from, …)` of the same boot back by
/// `back_ms` and inflates their usage, then re-signs everything with the right key.
pub fn resign_backdated(bundle: &[u8], key: &GatewayKey, from: u64, back_ms: u64) -> Vec<u8> {
    resign(bundle, key, |r| {
        if r.seq >= from {
            r.t.wall_ms -= back_ms;
            if let edgeproof::evidence::Body::Usage(u) = &mut r.body {
                for d in &mut u.devices {
                    d.points_read *= 2;
                }
            }
        }
    })
}

/// A wall-clock jump inside one boot: from record `from` to the end of its kernel boot the
/// wall clock runs `jump_ms` ahead; re-signed with the right key, checkpoints recomputed.
pub fn wall_clock_jump(bundle: &[u8], key: &GatewayKey, from: u64, jump_ms: u64) -> Vec<u8> {
    let mut boot: Option<String> = None;
    resign(bundle, key, |r| {
        if r.seq == from {
            boot = Some(r.boot.id.clone());
        }
        if r.seq >= from && boot.as_deref() == Some(r.boot.id.as_str()) {
            r.t.wall_ms += jump_ms;
        }
    })
}
