//! Position keys against the npm package `fractional-indexing` itself, the
//! implementation the contract names for offline clients: keys computed by
//! `todoql::lists::position` go to `tests/js/position-keys.mjs`, which
//! recomputes each with npm and reports any difference; the keys npm
//! generates there come back and must parse and be reproduced here.
//!
//! Needs Node and `npm ci` in `tests/js` (as `scripts/test.sh` does); fails,
//! rather than skips, without them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    io::Write,
    path::Path,
    process::{Command, Stdio},
};

use serde_json::{Value, json};
use todoql::lists::position::{PositionKey, key_between, keys_between};

const JS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js");

fn key(s: &str) -> PositionKey {
    PositionKey::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn text(k: Option<&PositionKey>) -> Value {
    k.map_or(Value::Null, |k| Value::from(k.as_str()))
}

/// A 64-bit LCG: deterministic cases without a dependency.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// The cases, as JSON lines for the script.
#[derive(Default)]
struct Cases(Vec<Value>);

impl Cases {
    fn between(&mut self, a: Option<&PositionKey>, b: Option<&PositionKey>) -> PositionKey {
        let k = key_between(a, b).unwrap_or_else(|e| panic!("{a:?} {b:?}: {e}"));
        self.0
            .push(json!({ "a": text(a), "b": text(b), "key": k.as_str() }));
        k
    }

    fn n_between(&mut self, a: Option<&PositionKey>, b: Option<&PositionKey>, n: usize) {
        let keys = keys_between(a, b, n).unwrap_or_else(|e| panic!("{a:?} {b:?} {n}: {e}"));
        let keys: Vec<&str> = keys.iter().map(PositionKey::as_str).collect();
        self.0
            .push(json!({ "a": text(a), "b": text(b), "n": n, "keys": keys }));
    }

    /// `n` insertions at positions `pick` chooses; returns the final list.
    fn walk(&mut self, n: usize, mut pick: impl FnMut(usize) -> usize) -> Vec<PositionKey> {
        let mut list: Vec<PositionKey> = Vec::new();
        for _ in 0..n {
            let pos = pick(list.len() + 1);
            let k = self.between(pos.checked_sub(1).map(|i| &list[i]), list.get(pos));
            list.insert(pos, k);
        }
        list
    }
}

fn cases() -> Cases {
    let mut c = Cases::default();
    // Appending and prepending: across the heads a→b→c and Z→Y.
    let (mut front, mut back) = (None, None);
    for _ in 0..5000 {
        front = Some(c.between(None, front.as_ref()));
        back = Some(c.between(back.as_ref(), None));
    }
    // Random insertions, uniform and crowded into the first gaps.
    let mut rng = Lcg(42);
    let list = c.walk(3000, |n| rng.below(n));
    let mut rng = Lcg(43);
    let crowded = c.walk(700, |n| rng.below(n.min(2)));
    let mut rng = Lcg(44);
    c.walk(700, |n| n - 1 - rng.below(n.min(3)));
    // Between arbitrary (not only adjacent) pairs of those keys.
    let mut rng = Lcg(45);
    for _ in 0..2000 {
        let (i, j) = (rng.below(list.len()), rng.below(list.len()));
        if i != j {
            c.between(Some(&list[i.min(j)]), Some(&list[i.max(j)]));
        }
    }
    // The ends of the key space.
    let largest = key(&format!("z{}", "z".repeat(26)));
    let low = key(&format!("A{}2", "0".repeat(25)));
    let k = c.between(Some(&largest), None);
    c.between(Some(&k), None);
    c.between(None, Some(&largest));
    c.between(Some(&low), None);
    c.between(None, Some(&low));
    let lowest = key(&format!("A{}1", "0".repeat(26)));
    let k = c.between(None, Some(&lowest));
    c.between(None, Some(&k));
    c.between(Some(&lowest), None);
    for raw in [
        "Zz", "a0", "az", "b00", "bzz", "Y00", "Yzz", "a0V", "a00001",
    ] {
        let k = key(raw);
        c.between(None, Some(&k));
        c.between(Some(&k), None);
    }
    // n keys: open ends, gaps, and rebalancing a crowded run.
    for n in [0, 1, 2, 3, 10, 100, 1000] {
        c.n_between(None, None, n);
        c.n_between(Some(&key("a0")), Some(&key("a1")), n);
    }
    c.n_between(Some(&key("Zz")), None, 50);
    c.n_between(None, Some(&key("a0")), 50);
    c.n_between(Some(&key("Zz")), Some(&key("b00")), 77);
    c.n_between(Some(&crowded[0]), Some(&crowded[crowded.len() - 1]), 700);
    let mut rng = Lcg(46);
    for _ in 0..200 {
        let i = rng.below(list.len() - 1);
        c.n_between(Some(&list[i]), Some(&list[i + 1]), rng.below(20));
    }
    c
}

#[test]
fn keys_match_the_npm_package_both_ways() {
    let package = Path::new(JS).join("node_modules/fractional-indexing/package.json");
    assert!(
        package.is_file(),
        "{} is missing: run `npm ci` in tests/js (scripts/test.sh does)",
        package.display()
    );
    let cases = cases();
    let input: String = cases.0.iter().map(|c| format!("{c}\n")).collect();

    let mut child = Command::new("node")
        .arg(format!("{JS}/position-keys.mjs"))
        .current_dir(JS)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node must be installed to run tests/js/position-keys.mjs");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("node ran");
    writer
        .join()
        .expect("writer thread")
        .expect("cases written");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let (generated, summary) = stdout
        .trim_end()
        .rsplit_once('\n')
        .unwrap_or_else(|| panic!("no output from the script:\n{stdout}\n{stderr}"));

    // Rust's keys, recomputed by npm.
    let summary: Value = serde_json::from_str(summary).expect("summary line");
    assert_eq!(summary["mismatches"], json!([]), "{stderr}");
    assert_eq!(summary["checked"], cases.0.len(), "{summary}");
    assert_eq!(summary["equal"], cases.0.len(), "{summary}");
    assert!(output.status.success(), "{summary}\n{stderr}");

    // npm's keys, parsed and recomputed here.
    let mut count = 0;
    for line in generated.lines() {
        let c: Value = serde_json::from_str(line).expect("a JSON line");
        let side = |v: &Value| v.as_str().map(key);
        let (a, b) = (side(&c["a"]), side(&c["b"]));
        let npm = c["key"].as_str().expect("key");
        let parsed = PositionKey::parse(npm).unwrap_or_else(|e| panic!("npm's {npm:?}: {e}"));
        assert_eq!(key_between(a.as_ref(), b.as_ref()), Ok(parsed), "{c}");
        count += 1;
    }
    assert_eq!(summary["generated"], count, "{summary}");
    assert!(count > 10_000, "{count} keys from npm");
}
