//! Unit tests of `position`: expected values come from running the npm
//! package `fractional-indexing` 4.0.0 (`generateKeyBetween`,
//! `generateNKeysBetween`); `tests/position_keys.rs` checks the same
//! against the package itself at test time.

use super::*;

fn key(s: &str) -> PositionKey {
    PositionKey::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn between(a: Option<&str>, b: Option<&str>) -> Result<PositionKey, PositionError> {
    key_between(a.map(key).as_ref(), b.map(key).as_ref())
}

/// `(a, b, generateKeyBetween(a, b))`, as printed by the npm package.
const NPM_KEY_BETWEEN: &[(Option<&str>, Option<&str>, &str)] = &[
    (None, None, "a0"),
    (Some("a0"), None, "a1"),
    (None, Some("a0"), "Zz"),
    (Some("a0"), Some("a1"), "a0V"),
    (Some("a1"), Some("a2"), "a1V"),
    (Some("a0"), Some("a0V"), "a0G"),
    (Some("a0V"), Some("a1"), "a0l"),
    (Some("Zz"), Some("a0"), "ZzV"),
    (Some("Zz"), None, "a0"),
    (None, Some("Zz"), "Zy"),
    (Some("az"), None, "b00"),
    (Some("az"), Some("b00"), "azV"),
    (None, Some("b00"), "az"),
    (Some("b00"), None, "b01"),
    (Some("b0z"), None, "b10"),
    (Some("bzz"), None, "c000"),
    (Some("a0"), Some("a01"), "a00V"),
    (Some("a0"), Some("a001"), "a000V"),
    (Some("a0"), Some("a0001"), "a0000V"),
    (Some("a00001"), Some("a0001"), "a0000W"),
    (Some("a1"), Some("a101"), "a100V"),
    (Some("a1"), Some("a11"), "a10V"),
    (Some("a1"), Some("a10001"), "a10000V"),
    (Some("a0z"), Some("a1"), "a0zV"),
    (Some("a0zz"), Some("a1"), "a0zzV"),
    (Some("a0zzzz"), Some("a1"), "a0zzzzV"),
    (Some("a0zzzzzz"), Some("a100000001"), "a1"),
    (Some("Yzz"), None, "Z0"),
    (None, Some("Yzz"), "Yzy"),
    (Some("Y00"), None, "Y01"),
    (None, Some("Y00"), "Xzzz"),
    (None, Some("Y01"), "Y00"),
    (Some("Y01"), Some("Y02"), "Y01V"),
    (
        Some("zzzzzzzzzzzzzzzzzzzzzzzzzzz"),
        None,
        "zzzzzzzzzzzzzzzzzzzzzzzzzzzV",
    ),
    (
        None,
        Some("zzzzzzzzzzzzzzzzzzzzzzzzzzz"),
        "zzzzzzzzzzzzzzzzzzzzzzzzzzy",
    ),
    (
        Some("zzzzzzzzzzzzzzzzzzzzzzzzzzy"),
        Some("zzzzzzzzzzzzzzzzzzzzzzzzzzz"),
        "zzzzzzzzzzzzzzzzzzzzzzzzzzyV",
    ),
    (
        Some("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"),
        None,
        "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzV",
    ),
    (
        None,
        Some("A000000000000000000000000001"),
        "A000000000000000000000000000V",
    ),
    (
        None,
        Some("A00000000000000000000000000V"),
        "A00000000000000000000000000G",
    ),
    (
        None,
        Some("A000000000000000000000000011"),
        "A00000000000000000000000001",
    ),
    (
        Some("A000000000000000000000000001"),
        Some("A000000000000000000000000002"),
        "A000000000000000000000000001V",
    ),
    (
        Some("A000000000000000000000000001"),
        None,
        "A00000000000000000000000001",
    ),
    (
        Some("A00000000000000000000000001"),
        None,
        "A00000000000000000000000002",
    ),
    (Some("a0"), Some("c000"), "a1"),
    (Some("a5"), Some("a6"), "a5V"),
    (Some("a5"), Some("a7"), "a6"),
    (Some("a5"), Some("a5V"), "a5G"),
    (Some("a5V"), Some("a6"), "a5l"),
    (Some("a5VV"), Some("a5W"), "a5Vl"),
    (None, Some("a0V"), "a0"),
    (None, Some("a00001"), "a0"),
    (Some("a00001"), None, "a1"),
    (Some("a0"), Some("a0x"), "a0U"),
    (Some("a0"), Some("a02"), "a01"),
    (Some("a0y"), Some("a0z"), "a0yV"),
    (Some("a0yz"), Some("a0z"), "a0yzV"),
    (Some("Zzz"), Some("a0"), "ZzzV"),
    (Some("Zz"), Some("a01"), "a0"),
    (Some("a9"), Some("aA"), "a9V"),
    (Some("aZ"), Some("aa"), "aZV"),
    (Some("ay"), Some("az"), "ayV"),
    (Some("ay"), Some("b00"), "az"),
    (Some("az"), Some("b001"), "b00"),
    (Some("Xzzz"), Some("Y00"), "XzzzV"),
    (Some("a0"), Some("b00"), "a1"),
    (Some("Zy"), Some("b00"), "Zz"),
    (None, Some("c000V"), "c000"),
    (Some("c000V"), None, "c001"),
    (Some("c0001"), Some("c000101"), "c000100V"),
    (Some("a0zzzzzz"), Some("a1"), "a0zzzzzzV"),
    (Some("a0"), Some("a000001"), "a000000V"),
    (
        Some("a0LLLLLLLLLLLLLLLLK"),
        Some("a0LLLLLLLLLLLLLLLLO"),
        "a0LLLLLLLLLLLLLLLLM",
    ),
    (
        Some(
            "a0zyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxw1",
        ),
        Some(
            "a0zyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxw2",
        ),
        "a0zyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxw1V",
    ),
    (
        Some(
            "a0zyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxw1",
        ),
        None,
        "a1",
    ),
    (
        None,
        Some(
            "a0zyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxwzyxw2",
        ),
        "a0",
    ),
    (Some("a0zzzzzz"), None, "a1"),
];

/// `(a, b, n, generateNKeysBetween(a, b, n))`, as printed by the npm package.
#[allow(clippy::type_complexity)]
const NPM_N_KEYS_BETWEEN: &[(Option<&str>, Option<&str>, usize, &[&str])] = &[
    (None, None, 5, &["a0", "a1", "a2", "a3", "a4"]),
    (Some("a0"), None, 5, &["a1", "a2", "a3", "a4", "a5"]),
    (None, Some("a0"), 5, &["Zv", "Zw", "Zx", "Zy", "Zz"]),
    (
        Some("a0"),
        Some("a1"),
        5,
        &["a08", "a0G", "a0V", "a0d", "a0l"],
    ),
    (
        Some("a0"),
        Some("a1"),
        10,
        &[
            "a04", "a08", "a0G", "a0K", "a0O", "a0V", "a0Z", "a0d", "a0l", "a0t",
        ],
    ),
    (Some("a0"), Some("a0V"), 3, &["a08", "a0G", "a0O"]),
    (
        Some("Zz"),
        Some("b00"),
        7,
        &["ZzG", "ZzV", "Zzl", "a0", "a0V", "a1", "a2"],
    ),
    (Some("a0"), Some("a1"), 0, &[]),
    (Some("a0"), Some("a1"), 1, &["a0V"]),
    (Some("a0"), Some("a1"), 2, &["a0G", "a0V"]),
    (
        Some("zzzzzzzzzzzzzzzzzzzzzzzzzzz"),
        None,
        3,
        &[
            "zzzzzzzzzzzzzzzzzzzzzzzzzzzV",
            "zzzzzzzzzzzzzzzzzzzzzzzzzzzl",
            "zzzzzzzzzzzzzzzzzzzzzzzzzzzt",
        ],
    ),
];

#[test]
fn key_between_matches_npm() {
    for &(a, b, want) in NPM_KEY_BETWEEN {
        let got = between(a, b).unwrap_or_else(|e| panic!("{a:?} {b:?}: {e}"));
        assert_eq!(got.as_str(), want, "key_between({a:?}, {b:?})");
        if let Some(a) = a {
            assert!(a < want, "{a} < {want}");
        }
        if let Some(b) = b {
            assert!(want < b, "{want} < {b}");
        }
    }
}

#[test]
fn keys_between_matches_npm() {
    for &(a, b, n, want) in NPM_N_KEYS_BETWEEN {
        let got = keys_between(a.map(key).as_ref(), b.map(key).as_ref(), n).unwrap();
        let got: Vec<&str> = got.iter().map(PositionKey::as_str).collect();
        assert_eq!(got, want, "keys_between({a:?}, {b:?}, {n})");
    }
}

#[test]
fn many_keys_match_npm() {
    let all = keys_between(None, None, 1000).unwrap();
    assert_eq!(all[69].as_str(), "b07");
    assert_eq!(all[998].as_str(), "bF6");
    assert_eq!(all[999].as_str(), "bF7");
    assert!(all.windows(2).all(|w| w[0] < w[1]));

    let (a0, a1) = (key("a0"), key("a1"));
    let inside = keys_between(Some(&a0), Some(&a1), 1000).unwrap();
    let first: Vec<&str> = inside[..3].iter().map(PositionKey::as_str).collect();
    assert_eq!(first, ["a004", "a008", "a00C"]);
    assert_eq!(inside.iter().map(|k| k.as_str().len()).max(), Some(4));
    assert!(a0 < inside[0] && inside[999] < a1);
    assert!(inside.windows(2).all(|w| w[0] < w[1]));
}

/// A tiny deterministic PRNG (a 64-bit LCG); the same in the npm script
/// that produced the expected values.
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

/// FNV-1a 64 of the keys, each followed by a newline.
fn fnv(keys: &[PositionKey]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for k in keys {
        for &c in k.as_str().as_bytes().iter().chain(b"\n") {
            h = (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Inserts `n` keys at positions drawn by `pick` between their current
/// neighbours, checking order at each step; returns (generated, final list).
fn walk(n: usize, mut pick: impl FnMut(usize) -> usize) -> (Vec<PositionKey>, Vec<PositionKey>) {
    let (mut generated, mut list) = (Vec::new(), Vec::<PositionKey>::new());
    for _ in 0..n {
        let pos = pick(list.len() + 1);
        let (a, b) = (pos.checked_sub(1).map(|i| &list[i]), list.get(pos));
        let k = key_between(a, b).unwrap();
        assert!(a.is_none_or(|a| a < &k) && b.is_none_or(|b| &k < b));
        assert_eq!(PositionKey::parse(k.as_str()).as_ref(), Ok(&k));
        generated.push(k.clone());
        list.insert(pos, k);
    }
    (generated, list)
}

#[test]
fn random_insertions_match_npm_and_stay_sorted() {
    let mut rng = Lcg(12345);
    let (generated, list) = walk(1000, |n| rng.below(n));
    let first: Vec<&str> = generated[..8].iter().map(PositionKey::as_str).collect();
    assert_eq!(first, ["a0", "a1", "a0V", "a0G", "Zz", "Zy", "a08", "a0l"]);
    let last: Vec<&str> = generated[997..].iter().map(PositionKey::as_str).collect();
    assert_eq!(last, ["a0np", "ZzLcG", "a1w"]);
    assert_eq!(fnv(&generated), 0xedbf_aa95_9ede_9098);
    assert_eq!(fnv(&list), 0x7f39_7569_d938_aa7a);
    assert_eq!(list.iter().map(|k| k.as_str().len()).max(), Some(6));
    // Sorted as keys, as strings and as bytes alike.
    assert!(list.windows(2).all(|w| w[0] < w[1]));
    let mut bytes: Vec<&[u8]> = list.iter().map(|k| k.as_str().as_bytes()).collect();
    bytes.sort();
    assert!(
        bytes
            .iter()
            .zip(&list)
            .all(|(b, k)| *b == k.as_str().as_bytes())
    );
}

#[test]
fn insertions_crowding_one_region_stay_sorted() {
    // Mostly into the first few gaps, so fractions grow deep.
    let mut rng = Lcg(7);
    let (_, list) = walk(2000, |n| rng.below(n.min(3)));
    assert!(list.windows(2).all(|w| w[0] < w[1]));
    let mut rng = Lcg(99);
    let (_, list) = walk(2000, |n| n - 1 - rng.below(n.min(2)));
    assert!(list.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn appending_and_prepending_keep_keys_short() {
    let (mut front, mut back) = (None::<PositionKey>, None::<PositionKey>);
    let (mut fronts, mut backs) = (Vec::new(), Vec::new());
    for i in 1..=10_000 {
        let f = key_between(None, front.as_ref()).unwrap();
        let b = key_between(back.as_ref(), None).unwrap();
        assert!(front.as_ref().is_none_or(|old| &f < old));
        assert!(back.as_ref().is_none_or(|old| old < &b));
        assert!(f.as_str().len() <= 5 && b.as_str().len() <= 5, "{f} {b}");
        if [62, 100, 1000, 3844, 10_000].contains(&i) {
            fronts.push(f.to_string());
            backs.push(b.to_string());
        }
        (front, back) = (Some(f), Some(b));
    }
    assert_eq!(fronts, ["Z1", "YzP", "Ykt", "Y11", "XyPj"]);
    assert_eq!(backs, ["az", "b0b", "bF7", "byz", "c1aH"]);
}

#[test]
fn narrowing_one_gap_grows_slowly_then_is_exhausted() {
    // From above: b moves down towards a0 (npm: 756 keys fit in 128 bytes).
    let a = key("a0");
    let mut b = key("a1");
    for _ in 0..756 {
        b = key_between(Some(&a), Some(&b)).unwrap();
    }
    assert_eq!(b.as_str(), format!("a{}1", "0".repeat(126)));
    assert_eq!(
        key_between(Some(&a), Some(&b)),
        Err(PositionError::Exhausted)
    );
    // From below: a moves up towards a1 (npm: 630).
    let mut a = key("a0");
    let b = key("a1");
    for _ in 0..630 {
        a = key_between(Some(&a), Some(&b)).unwrap();
    }
    assert_eq!(a.as_str(), format!("a0{}", "z".repeat(126)));
    assert_eq!(
        key_between(Some(&a), Some(&b)),
        Err(PositionError::Exhausted)
    );
    // Rebalancing makes room again.
    let fresh = keys_between(None, None, 3).unwrap();
    assert!(key_between(Some(&fresh[0]), Some(&fresh[1])).is_ok());
}

#[test]
fn past_the_smallest_integer_returns_a_valid_key_unlike_npm() {
    // npm returns "A" + 26 zeros here, which its own validation refuses.
    let b = format!("A{}1", "0".repeat(25));
    let k = between(None, Some(&b)).unwrap();
    assert_eq!(k.as_str(), format!("A{}V", "0".repeat(26)));
    assert!(k.as_str() < b.as_str());
    let keys = keys_between(None, Some(&key(&format!("A{}3", "0".repeat(25)))), 3).unwrap();
    assert_eq!(keys[0], k);
    assert!(keys.windows(2).all(|w| w[0] < w[1]));
    // Below that, fractions keep working.
    assert_eq!(
        key_between(None, Some(&k)).unwrap().as_str(),
        format!("A{}G", "0".repeat(26))
    );
}

#[test]
fn neighbours_must_be_in_order() {
    for (a, b) in [("a1", "a0"), ("a0", "a0"), ("b00", "a0V"), ("a0V", "Zz")] {
        assert_eq!(between(Some(a), Some(b)), Err(PositionError::OutOfOrder));
        let (a, b) = (key(a), key(b));
        assert_eq!(
            keys_between(Some(&a), Some(&b), 0),
            Err(PositionError::OutOfOrder)
        );
        assert_eq!(
            keys_between(Some(&a), Some(&b), 3),
            Err(PositionError::OutOfOrder)
        );
    }
    assert_eq!(
        PositionError::OutOfOrder.to_string(),
        "afterId's key is not before beforeId's"
    );
}

#[test]
fn malformed_keys_are_refused() {
    use Malformation::*;
    let long = format!("a0{}", "V".repeat(MAX_LEN - 1));
    let smallest = format!("A{}", "0".repeat(26));
    let cases: &[(&str, Malformation)] = &[
        ("", Empty),
        (&long, TooLong { len: MAX_LEN + 1 }),
        ("a0 ", NotBase62 { position: 3 }),
        ("a-1", NotBase62 { position: 2 }),
        ("a0é", NotBase62 { position: 3 }),
        ("é", NotBase62 { position: 1 }),
        ("a\0", NotBase62 { position: 2 }),
        ("0a", BadHead { head: '0' }),
        ("9", BadHead { head: '9' }),
        (
            "a",
            TooShort {
                head: 'a',
                needed: 2,
                len: 1,
            },
        ),
        (
            "b0",
            TooShort {
                head: 'b',
                needed: 3,
                len: 2,
            },
        ),
        (
            "Y0",
            TooShort {
                head: 'Y',
                needed: 3,
                len: 2,
            },
        ),
        (
            "z",
            TooShort {
                head: 'z',
                needed: 27,
                len: 1,
            },
        ),
        (
            "A",
            TooShort {
                head: 'A',
                needed: 27,
                len: 1,
            },
        ),
        ("a00", TrailingZero),
        ("a0V0", TrailingZero),
        ("b000", TrailingZero),
        (&smallest, Reserved),
    ];
    for (raw, why) in cases {
        assert_eq!(
            PositionKey::parse(raw),
            Err(PositionError::Malformed(*why)),
            "{raw:?}"
        );
        assert!(raw.parse::<PositionKey>().is_err());
    }
    assert_eq!(
        PositionKey::parse("a00").unwrap_err().to_string(),
        "position key is malformed: it ends in '0' after its integer part"
    );
    assert_eq!(
        PositionKey::parse("").unwrap_err().to_string(),
        "position key is malformed: it is empty"
    );
}

#[test]
fn valid_keys_parse_and_print_unchanged() {
    let max = format!("a0{}", "V".repeat(MAX_LEN - 2));
    let largest = format!("z{}", "z".repeat(26));
    let above_smallest = format!("A{}1", "0".repeat(26));
    for raw in [
        "a0",
        "Zz",
        "a0V",
        "b00",
        "b001",
        "Y00",
        "Xzzz",
        "a00001",
        &max,
        &largest,
        &above_smallest,
    ] {
        let k = PositionKey::parse(raw).unwrap();
        assert_eq!(k.as_str(), raw);
        assert_eq!(k.to_string(), raw);
        assert_eq!(raw.parse::<PositionKey>().unwrap(), k);
        assert_eq!(String::from(k.clone()), raw);
        assert_eq!(k.into_string(), raw);
    }
}

#[test]
fn keys_order_by_bytes() {
    // Upper case before lower case, digits before both: byte order, not a
    // locale's.
    let raw = [
        "a0", "Zz", "a0V", "a0l", "a0G", "a1", "b00", "az", "aZ", "a9", "Y00", "Zy",
    ];
    let mut keys: Vec<PositionKey> = raw.iter().map(|s| key(s)).collect();
    keys.sort();
    let sorted: Vec<&str> = keys.iter().map(PositionKey::as_str).collect();
    assert_eq!(
        sorted,
        [
            "Y00", "Zy", "Zz", "a0", "a0G", "a0V", "a0l", "a1", "a9", "aZ", "az", "b00"
        ]
    );
}
