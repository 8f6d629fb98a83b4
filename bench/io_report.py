#!/usr/bin/env python3
"""Runs bench/io_benchmark with interleaved repetitions and prints the markdown tables of
bench/README.md ("End to end on the I/O backends"): per worker core, CPU per output packet,
outputs per second and added latency for the socket and DPDK backends, with the ratios to the
baselines measured in the same run (a bare recvmmsg/sendmmsg relay; the core pipeline alone).

usage: bench/io_report.py [path/to/io_benchmark] [--repetitions N] [--min-time S]
"""
import argparse
import json
import statistics
import subprocess
import sys

CASES = [(p, n) for p in (200, 1200) for n in (1, 4, 10)]


def run(binary, repetitions, min_time):
    cmd = [binary, "--benchmark_format=json", f"--benchmark_repetitions={repetitions}",
           "--benchmark_enable_random_interleaving=true", f"--benchmark_min_time={min_time}"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    results = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("run_type") != "iteration" or b.get("error_occurred"):
            continue
        name = b["run_name"] if "run_name" in b else b["name"]
        parts = name.split("/")
        fam = parts[0]
        args = {kv.split(":")[0]: int(kv.split(":")[1]) for kv in parts[1:] if ":" in kv}
        key = (fam, args.get("payload"), args.get("fanout"))
        results.setdefault(key, []).append(b)
    return results


def med(results, fam, p, n, field):
    vals = [b[field] for b in results.get((fam, p, n), []) if field in b]
    return statistics.median(vals) if vals else float("nan")


def fmt(v, digits=0):
    if v != v:  # NaN
        return "n/a"
    return f"{v:.{digits}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default="build/release/bench/io_benchmark")
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.5)
    a = ap.parse_args()
    r = run(a.binary, a.repetitions, a.min_time)
    cols = [f"{p} B, N={n}" for p, n in CASES]
    print("| per output packet | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    rows = [
        ("socket switch: CPU ns", "BM_SocketSwitch", "cpu_ns_per_output", 0),
        ("bare relay: CPU ns", "BM_SocketRelay", "cpu_ns_per_output", 0),
        ("DPDK switch: lcore busy ns", "BM_DpdkSwitch", "cpu_ns_per_output", 0),
        ("core pipeline alone, hot buffers: ns", "BM_CorePipeline", "cpu_ns_per_output", 0),
        ("core pipeline alone, cold buffers: ns", "BM_CorePipelineColdBuffers",
         "cpu_ns_per_output", 0),
    ]
    for label, fam, field, d in rows:
        print(f"| {label} | " + " | ".join(fmt(med(r, fam, p, n, field), d) for p, n in CASES) + " |")
    print()
    print("| ratio (same run) | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for label, num, den in [("socket switch / bare relay", "BM_SocketSwitch", "BM_SocketRelay"),
                            ("DPDK switch / core pipeline (hot buffers)", "BM_DpdkSwitch",
                             "BM_CorePipeline"),
                            ("DPDK switch / core pipeline (cold buffers)", "BM_DpdkSwitch",
                             "BM_CorePipelineColdBuffers")]:
        vals = []
        for p, n in CASES:
            x = med(r, num, p, n, "cpu_ns_per_output")
            y = med(r, den, p, n, "cpu_ns_per_output")
            vals.append(fmt(x / y, 2) if y == y and y > 0 else "n/a")
        print(f"| {label} | " + " | ".join(vals) + " |")
    print()
    print("| outputs/s (M), latency p50 / p99 (µs) | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for label, fam in [("socket switch", "BM_SocketSwitch"), ("bare relay", "BM_SocketRelay"),
                       ("DPDK switch", "BM_DpdkSwitch")]:
        cells = []
        for p, n in CASES:
            ops = med(r, fam, p, n, "outputs_per_s") / 1e6
            cells.append(f"{fmt(ops, 2)} M/s, {fmt(med(r, fam, p, n, 'lat_p50_us'), 0)} / "
                         f"{fmt(med(r, fam, p, n, 'lat_p99_us'), 0)}")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
