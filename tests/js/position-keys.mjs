// Cross-checks todoql's position keys (src/lists/position.rs) against the
// npm package `fractional-indexing`, whose format the contract promises to
// offline clients. Run by tests/position_keys.rs.
//
//   node position-keys.mjs [CASES.jsonl] < CASES.jsonl
//
// Input (the file named, or stdin): JSON lines computed by the Rust code,
//   {"a": A|null, "b": B|null, "key": K}            generateKeyBetween(a, b) must be K
//   {"a": A|null, "b": B|null, "n": N, "keys": [..]} generateNKeysBetween(a, b, n) must be keys
// Output (stdout): JSON lines {"a","b","key"} of keys generated here by npm
// (appends, prepends, and a seeded random run of insertions), for the Rust
// side to parse and recompute; then, last, a one-line JSON summary
//   {"checked":N,"equal":N,"mismatches":[first 20],"generated":M}
// Exit 0 iff every case was equal (and there was at least one).

import { readFileSync } from "node:fs";
import {
  generateKeyBetween,
  generateNKeysBetween,
} from "fractional-indexing";

const input = readFileSync(process.argv[2] ?? 0, "utf8");
let checked = 0;
let equal = 0;
const mismatches = [];

const attempt = (f) => {
  try {
    return f();
  } catch (e) {
    return { error: String(e?.message ?? e) };
  }
};

for (const line of input.split("\n")) {
  if (line.trim() === "") continue;
  const c = JSON.parse(line);
  checked++;
  const same =
    "n" in c
      ? (() => {
          const got = attempt(() => generateNKeysBetween(c.a, c.b, c.n));
          return [JSON.stringify(got) === JSON.stringify(c.keys), got];
        })()
      : (() => {
          const got = attempt(() => generateKeyBetween(c.a, c.b));
          return [got === c.key, got];
        })();
  if (same[0]) {
    equal++;
  } else if (mismatches.length < 20) {
    mismatches.push({ ...c, npm: same[1] });
    console.error("mismatch:", JSON.stringify({ ...c, npm: same[1] }));
  }
}

// Keys npm makes, for the Rust side to accept and reproduce.
let generated = 0;
const emit = (a, b) => {
  const key = generateKeyBetween(a, b);
  console.log(JSON.stringify({ a, b, key }));
  generated++;
  return key;
};
let front = null;
let back = null;
for (let i = 0; i < 4000; i++) {
  front = emit(null, front);
  back = emit(back, null);
}
// A seeded run of insertions (an LCG, as in the Rust unit tests), an
// eighth of them into the second gap so that fractions grow long (about
// 60 bytes, below the 128 the server allows).
let seed = 2024n;
const below = (n) => {
  seed =
    (seed * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
  return Number((seed >> 33n) % BigInt(n));
};
const list = [];
for (let i = 0; i < 3000; i++) {
  const pos = below(8) === 0 ? Math.min(1, list.length) : below(list.length + 1);
  const a = pos > 0 ? list[pos - 1] : null;
  const b = pos < list.length ? list[pos] : null;
  list.splice(pos, 0, emit(a, b));
}

console.log(JSON.stringify({ checked, equal, mismatches, generated }));
process.exit(checked > 0 && checked === equal ? 0 : 1);
