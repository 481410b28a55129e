#!/usr/bin/env python3
"""Print the codec benchmark results as Markdown tables of ns per prefix.

Reads criterion's output (target/criterion/*/*/new/{benchmark,estimates}.json) after
`cargo bench -p speakerd-benches --bench codec`. Usage:

    python3 benches/table.py [CRITERION_DIR...]

CRITERION_DIR defaults to $CARGO_TARGET_DIR/criterion, else target/criterion. Each cell is
the median of criterion's samples; given several directories (copies of the criterion
directory after separate runs), each cell is the lowest of those medians: on a shared, noisy
machine the least disturbed run is the best estimate of the cost.
"""
import json
import os
import sys
from pathlib import Path

OURS = "bgp-wire"
OPS = ("decode", "encode", "pack")
ORDER = [OURS, "rustbgpd-wire", "netgauze-bgp-pkt", "zettabgp", "bgpkit-parser"]


def load(root):
    results = {}  # (op, fixture) -> {crate: (median_ns, lo_ns, hi_ns, prefixes)}
    for bench in sorted(root.glob("*/*/new/benchmark.json")):
        meta = json.loads(bench.read_text())
        est = json.loads((bench.parent / "estimates.json").read_text())["median"]
        op, _, fixture = meta["group_id"].partition("/")
        # Only the codec groups (other benches of the crate share the criterion directory).
        if op not in OPS or not fixture_key(fixture):
            continue
        n = meta["throughput"]["Elements"]
        ci = est["confidence_interval"]
        results.setdefault((op, fixture), {})[meta["function_id"]] = (
            est["point_estimate"],
            ci["lower_bound"],
            ci["upper_bound"],
            n,
        )
    return results


def fixture_key(f):
    fam, _, n = f.partition("/")
    return (fam, int(n)) if fam in ("ipv4", "ipv6") and n.isdigit() else None


def main():
    roots = [Path(a) for a in sys.argv[1:]] or [
        Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "criterion"
    ]
    results = {}
    for root in roots:
        run = load(root)
        if not run:
            sys.exit(f"no criterion results under {root}")
        for key, row in run.items():
            best = results.setdefault(key, {})
            for crate, r in row.items():
                if crate not in best or r[0] < best[crate][0]:
                    best[crate] = r
    print(f"runs: {len(roots)}")
    crates = [c for c in ORDER if any(c in r for r in results.values())]
    crates += sorted({c for r in results.values() for c in r} - set(crates))
    for op in OPS:
        fixtures = sorted({f for (o, f) in results if o == op}, key=fixture_key)
        if not fixtures:
            continue
        print(f"\n### {op}: ns per prefix (median; whole message in parentheses)\n")
        head = ["fixture"] + crates + ["bgp-wire / fastest other"]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for f in fixtures:
            row = results[(op, f)]
            cells = [f]
            for c in crates:
                if c in row:
                    med, _, _, n = row[c]
                    cells.append(f"{med / n:.1f} ({fmt_ns(med)})")
                else:
                    cells.append("-")
            others = [row[c][0] for c in row if c != OURS]
            if OURS in row and others:
                cells.append(f"{row[OURS][0] / min(others):.2f}")
            else:
                cells.append("-")
            print("| " + " | ".join(cells) + " |")


def fmt_ns(ns):
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.0f} ns"


if __name__ == "__main__":
    main()
