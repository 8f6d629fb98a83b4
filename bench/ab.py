#!/usr/bin/env python3
"""Runs two builds of bench/dataplane_benchmark (before and after a change) alternately over the
same benchmarks and prints, per benchmark, the median ns per output of each and their ratio. The
two binaries take turns, so a machine that slows down mid-run slows both alike.

usage: bench/ab.py BEFORE AFTER [--filter REGEX] [--repetitions N] [--min-time S]
"""
import argparse
import json
import statistics
import subprocess
import sys


def run(binary, flt, min_time):
    out = subprocess.run(
        [binary, f"--benchmark_filter={flt}", f"--benchmark_min_time={min_time}",
         "--benchmark_format=json"],
        check=True, capture_output=True, text=True).stdout
    res = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("error_occurred"):
            continue
        res[b["name"]] = b["ns_per_output"]
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--filter", default="BM_SwitchEkt|BM_SwitchMultiBuffer")
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.2)
    a = ap.parse_args()
    samples = {"before": {}, "after": {}}
    for rep in range(a.repetitions):
        order = [("before", a.before), ("after", a.after)]
        if rep % 2:
            order.reverse()
        for label, binary in order:
            for name, ns in run(binary, a.filter, a.min_time).items():
                samples[label].setdefault(name, []).append(ns)
        print(f"repetition {rep + 1}/{a.repetitions} done", file=sys.stderr)
    print("| benchmark | before (ns/output) | after (ns/output) | after/before |")
    print("|---|---|---|---|")
    for name in samples["after"]:
        if name not in samples["before"]:
            continue
        b = statistics.median(samples["before"][name])
        f = statistics.median(samples["after"][name])
        print(f"| {name} | {b:.0f} | {f:.0f} | {f / b:.2f} |")


if __name__ == "__main__":
    main()
