//! Position keys as an offline client computes them: a port of
//! `generateKeyBetween` of the npm package `fractional-indexing` (base-62
//! digits), which the lists contract names as the format of `position`, and
//! its validity check. Keys order by byte value.

/// The base-62 digits in byte order.
const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The one key of valid shape that the algorithm refuses (the smallest
/// integer, which nothing could go before).
fn smallest_integer() -> String {
    format!("A{}", "0".repeat(26))
}

fn digit(c: u8) -> Option<usize> {
    DIGITS.iter().position(|&d| d == c)
}

/// The length of the integer part a key starting with `head` has.
fn integer_length(head: u8) -> Option<usize> {
    match head {
        b'a'..=b'z' => Some(usize::from(head - b'a') + 2),
        b'A'..=b'Z' => Some(usize::from(b'Z' - head) + 2),
        _ => None,
    }
}

/// Whether `key` is a key of the fractional-indexing format: an integer
/// part whose head letter gives its length, then an optional fraction of
/// base-62 digits that does not end with `0`.
pub fn is_valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    let Some(&head) = bytes.first() else {
        return false;
    };
    let Some(length) = integer_length(head) else {
        return false;
    };
    length <= bytes.len()
        && bytes[1..].iter().all(|&c| digit(c).is_some())
        && key != smallest_integer()
        && bytes[length..].last() != Some(&b'0')
}

fn integer_part(key: &str) -> &str {
    let length = integer_length(key.as_bytes()[0])
        .unwrap_or_else(|| panic!("invalid position key head: {key:?}"));
    &key[..length]
}

/// A fraction strictly between fractions `a` and `b` (`None`: no upper
/// bound).
fn midpoint(a: &str, b: Option<&str>) -> String {
    if let Some(b) = b {
        let (ab, bb) = (a.as_bytes(), b.as_bytes());
        let mut n = 0;
        while bb.get(n) == Some(&ab.get(n).copied().unwrap_or(b'0')) {
            n += 1;
        }
        if n > 0 {
            return format!(
                "{}{}",
                &b[..n],
                midpoint(a.get(n..).unwrap_or(""), Some(&b[n..]))
            );
        }
    }
    let da = a.as_bytes().first().map_or(0, |&c| digit(c).unwrap());
    let db = b.map_or(DIGITS.len(), |b| digit(b.as_bytes()[0]).unwrap());
    if db - da > 1 {
        // JavaScript's Math.round(0.5 * (da + db)).
        char::from(DIGITS[(da + db).div_ceil(2)]).to_string()
    } else if let Some(b) = b.filter(|b| b.len() > 1) {
        b[..1].to_owned()
    } else {
        format!(
            "{}{}",
            char::from(DIGITS[da]),
            midpoint(a.get(1..).unwrap_or(""), None)
        )
    }
}

fn increment_integer(x: &str) -> Option<String> {
    let bytes = x.as_bytes();
    let head = bytes[0];
    let mut digits = bytes[1..].to_vec();
    let mut carry = true;
    for d in digits.iter_mut().rev() {
        let next = digit(*d).unwrap() + 1;
        if next == DIGITS.len() {
            *d = b'0';
        } else {
            *d = DIGITS[next];
            carry = false;
            break;
        }
    }
    if carry {
        if head == b'Z' {
            return Some("a0".to_owned());
        }
        if head == b'z' {
            return None;
        }
        let h = head + 1;
        if h > b'a' {
            digits.push(b'0');
        } else {
            digits.pop();
        }
        return Some(text(h, &digits));
    }
    Some(text(head, &digits))
}

fn decrement_integer(x: &str) -> Option<String> {
    let bytes = x.as_bytes();
    let head = bytes[0];
    let mut digits = bytes[1..].to_vec();
    let mut borrow = true;
    for d in digits.iter_mut().rev() {
        let value = digit(*d).unwrap();
        if value == 0 {
            *d = DIGITS[DIGITS.len() - 1];
        } else {
            *d = DIGITS[value - 1];
            borrow = false;
            break;
        }
    }
    if borrow {
        if head == b'a' {
            return Some("Zz".to_owned());
        }
        if head == b'A' {
            return None;
        }
        let h = head - 1;
        if h < b'Z' {
            digits.push(DIGITS[DIGITS.len() - 1]);
        } else {
            digits.pop();
        }
        return Some(text(h, &digits));
    }
    Some(text(head, &digits))
}

fn text(head: u8, digits: &[u8]) -> String {
    let mut bytes = vec![head];
    bytes.extend_from_slice(digits);
    String::from_utf8(bytes).unwrap()
}

/// A key strictly between `a` and `b` (`None`: unbounded on that side),
/// exactly as `generateKeyBetween(a, b)` computes it.
pub fn key_between(a: Option<&str>, b: Option<&str>) -> String {
    for key in [a, b].into_iter().flatten() {
        assert!(is_valid_key(key), "invalid position key {key:?}");
    }
    if let (Some(a), Some(b)) = (a, b) {
        assert!(a < b, "{a:?} is not below {b:?}");
    }
    match (a, b) {
        (None, None) => "a0".to_owned(),
        (None, Some(b)) => {
            let ib = integer_part(b);
            let fb = &b[ib.len()..];
            if ib == smallest_integer() {
                return format!("{ib}{}", midpoint("", Some(fb)));
            }
            if ib < b {
                return ib.to_owned();
            }
            decrement_integer(ib).expect("cannot decrement any more")
        }
        (Some(a), None) => {
            let ia = integer_part(a);
            let fa = &a[ia.len()..];
            increment_integer(ia).unwrap_or_else(|| format!("{ia}{}", midpoint(fa, None)))
        }
        (Some(a), Some(b)) => {
            let (ia, ib) = (integer_part(a), integer_part(b));
            let (fa, fb) = (&a[ia.len()..], &b[ib.len()..]);
            if ia == ib {
                return format!("{ia}{}", midpoint(fa, Some(fb)));
            }
            let i = increment_integer(ia).expect("cannot increment any more");
            if i.as_str() < b {
                i
            } else {
                format!("{ia}{}", midpoint(fa, None))
            }
        }
    }
}

/// `n` ascending keys after `after` (`None`: from the first key).
pub fn keys_after(after: Option<&str>, n: usize) -> Vec<String> {
    let mut keys: Vec<String> = Vec::with_capacity(n);
    let mut previous = after.map(str::to_owned);
    for _ in 0..n {
        let key = key_between(previous.as_deref(), None);
        previous = Some(key.clone());
        keys.push(key);
    }
    keys
}

/// Keys this port must reproduce (from the package's own test suite), so a
/// mistake here cannot pass for one of the server's.
#[test]
fn the_port_matches_the_reference_implementation() {
    let cases: [(Option<&str>, Option<&str>, &str); 12] = [
        (None, None, "a0"),
        (None, Some("a0"), "Zz"),
        (None, Some("Zz"), "Zy"),
        (Some("a0"), None, "a1"),
        (Some("a1"), None, "a2"),
        (Some("a0"), Some("a1"), "a0V"),
        (Some("a1"), Some("a2"), "a1V"),
        (Some("a0V"), Some("a1"), "a0l"),
        (Some("Zz"), Some("a0"), "ZzV"),
        (Some("Zz"), Some("a1"), "a0"),
        (None, Some("Y00"), "Xzzz"),
        (Some("bzz"), None, "c000"),
    ];
    for (a, b, expected) in cases {
        assert_eq!(key_between(a, b), expected, "between {a:?} and {b:?}");
    }
    assert_eq!(key_between(Some("a0"), Some("a0V")), "a0G");
    assert_eq!(key_between(Some("b125"), Some("b129")), "b127");
    for valid in ["a0", "Zz", "a0V", "b00", "zzzzzzzzzzzzzzzzzzzzzzzzzzz"] {
        assert!(is_valid_key(valid), "{valid}");
    }
    for invalid in [
        "",
        "a",
        "a00",
        "a0 ",
        "a0!",
        "0a",
        "é",
        "b0",
        "A00000000000000000000000000",
    ] {
        assert!(!is_valid_key(invalid), "{invalid:?}");
    }
}
