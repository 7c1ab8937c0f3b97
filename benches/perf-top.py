#!/usr/bin/env python3
"""Where a DWARF profile's time goes, by component (docs/benchmarks.md).

    perf script -i perf-list--cache-off.data | python3 benches/perf-top.py [N]

`./scripts/bench.sh --perf PREFIX` records call graphs with DWARF
unwinding, so each sample carries its stack. A flat profile charges kernel
time to kernel functions (`_raw_spin_unlock_irqrestore` …), which says
nothing about which socket is costly; this charges each sample to the
nearest frame that names a component:

- kernel samples to the client library that made the system call
  (hyper: the HTTP exchange, tokio_postgres, redis, tungstenite: WebSocket
  writes) — the cost of a round trip on both the write and read side;
- user samples in glibc's allocator and memcpy to `libc`, others to the
  crate of the nearest frame outside the standard library and the crates
  inlined everywhere (`async_graphql`, `serde_json`, `todoql` …).

Prints the share of each component, then the top N leaf symbols.
"""

import collections
import re
import sys

# Components looked for in a kernel sample's user frames, leaf first.
CALLERS = ["hyper", "tokio_postgres", "redis::", "tungstenite", "h2::", "tonic"]
# Crates whose code is inlined into every other crate: a user sample is
# charged to the nearest frame outside them.
GENERIC = {"core", "alloc", "std", "hashbrown", "futures_util", "futures_core"}
LIBC = ("malloc", "free", "memcpy", "memmove", "memset", "memcmp", "tcache", "realloc", "_int_", "unlink_chunk")


def crate_of(symbol: str) -> str:
    """The crate a demangled Rust symbol belongs to (`<a::B as c::D>::f` → a)."""
    symbol = symbol.lstrip("<&*")
    symbol = re.sub(r"^(dyn |impl )", "", symbol)
    return symbol.split("::", 1)[0] if "::" in symbol else symbol


def frames(block: str):
    """(symbol, dso) per frame of one `perf script` sample, leaf first."""
    for line in block.split("\n")[1:]:
        m = re.match(r"\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$", line)
        if m:
            yield m.group(1), m.group(2)


def main() -> None:
    top_n = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    samples = sys.stdin.read().split("\n\n")
    by_component = collections.Counter()
    by_symbol = collections.Counter()
    total = 0
    for block in samples:
        stack = list(frames(block))
        if not stack:
            continue
        total += 1
        leaf, dso = stack[0]
        by_symbol[re.sub(r"\+0x[0-9a-f]+$", "", leaf)[:110]] += 1
        if "kernel" in dso:
            caller = "other"
            for symbol, frame_dso in stack:
                if "kernel" in frame_dso:
                    continue
                hit = next((c for c in CALLERS if c in symbol), None)
                if hit:
                    caller = hit.rstrip(":")
                    break
            by_component[f"kernel under {caller}"] += 1
        elif "libc" in dso or any(k in leaf for k in LIBC):
            by_component["libc (malloc, free, memcpy)"] += 1
        else:
            crates = (crate_of(re.sub(r"\+0x[0-9a-f]+$", "", symbol)) for symbol, _ in stack)
            by_component[next((c for c in crates if c not in GENERIC), "std")] += 1
    if total == 0:
        sys.exit("no samples")
    print(f"{total} samples")
    print("| component | share |\n|---|---|")
    for name, n in by_component.most_common(top_n):
        print(f"| {name} | {100 * n / total:.1f} % |")
    print("\n| leaf symbol | share |\n|---|---|")
    for name, n in by_symbol.most_common(top_n):
        print(f"| `{name}` | {100 * n / total:.1f} % |")


if __name__ == "__main__":
    main()
