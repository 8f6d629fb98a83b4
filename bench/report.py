#!/usr/bin/env python3
"""Runs bench/dataplane_benchmark with interleaved repetitions and prints the markdown tables of
bench/README.md: ns per output, outputs/s and Gbit/s per variant, and the ratios of the switch to
each baseline, all from the same run.

usage: bench/report.py [path/to/dataplane_benchmark] [--repetitions N] [--min-time S]
"""
import argparse
import json
import platform
import statistics
import subprocess
import sys

VARIANTS = [
    ("a", "BM_SwitchScalar", "switch, scalar OpenSSL HMAC kernel"),
    ("b", "BM_SwitchMultiBuffer", "switch, multi-buffer kernel (intel-ipsec-mb)"),
    ("c", "BM_Libsrtp", "libsrtp2 as packaged: unprotect + N protects"),
    ("d", "BM_ConventionalCm", "OpenSSL AES-128-CM + HMAC-SHA1 re-encrypt per receiver"),
    ("e", "BM_ConventionalGcm", "OpenSSL AEAD_AES_128_GCM re-encrypt per receiver"),
    ("f", "BM_HmacFloor", "floor: multi-buffer HMAC-SHA1 alone"),
]
RATIOS = [("b", "d"), ("b", "e"), ("b", "f"), ("a", "d"), ("b", "a"), ("b", "c")]


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        return "unknown", ""
    keep = ["aes", "sha_ni", "avx2", "avx512f", "avx512bw", "vaes", "vpclmulqdq"]
    return model, " ".join(f for f in keep if f in flags)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default="build/release/bench/dataplane_benchmark")
    ap.add_argument("--repetitions", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=0.3)
    ap.add_argument("--filter", default=".")
    args = ap.parse_args()
    cmd = [args.binary, "--benchmark_format=json", f"--benchmark_repetitions={args.repetitions}",
           f"--benchmark_min_time={args.min_time}", "--benchmark_enable_random_interleaving=true",
           f"--benchmark_filter={args.filter}"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    data = json.loads(out)
    runs = {}
    labels = {}
    ekt = {}
    for b in data["benchmarks"]:
        if b.get("run_type") != "iteration" or b.get("error_occurred"):
            continue
        if b["run_name"].startswith("BM_SwitchEkt/"):
            _, fmt, form, payload = b["run_name"].split("/")
            key = (int(fmt.split(":")[1]), int(form.split(":")[1]), int(payload.split(":")[1]))
            ekt.setdefault(key, []).append(b["ns_per_output"])
            continue
        name, payload, fanout = b["run_name"].split("/")
        key = (name, int(payload.split(":")[1]), int(fanout.split(":")[1]))
        runs.setdefault(key, []).append(b["ns_per_output"])
        if b.get("label"):
            labels[name] = b["label"]
    med = {k: statistics.median(v) for k, v in runs.items()}
    model, flags = cpu_flags()
    ctx = data["context"]
    print(f"CPU: {model}; flags: {flags}; {ctx.get('num_cpus')} cores; "
          f"kernel chosen at start-up: {ctx.get('mac_kernel_best', '?')}")
    print(f"Hot state: {ctx.get('stream_hot_bytes')} B per input stream, "
          f"{ctx.get('route_hot_bytes')} B per output route")
    print(f"Median of {args.repetitions} interleaved repetitions, bursts of 32, "
          f"host {platform.node()}.\n")
    shapes = sorted({(p, n) for (_, p, n) in med})
    print("| variant | " + " | ".join(f"{p} B, N={n}" for p, n in shapes) + " |")
    print("|---|" + "---|" * len(shapes))
    for tag, name, desc in VARIANTS:
        cells = []
        for p, n in shapes:
            v = med.get((name, p, n))
            if v is None:
                cells.append("n/a")
                continue
            gbps = (p + 26) * 8 / v  # output packet bits per ns: 12 B header + CSRC + tag
            cells.append(f"{v:.0f} ns, {1e3 / v:.2f} M/s, {gbps:.1f} Gb/s")
        label = f" [{labels[name]}]" if name in labels else ""
        print(f"| ({tag}) {desc}{label} | " + " | ".join(cells) + " |")
    print("\nRatios of time per output packet (lower is better for the numerator):\n")
    print("| ratio | " + " | ".join(f"{p} B, N={n}" for p, n in shapes) + " |")
    print("|---|" + "---|" * len(shapes))
    by_tag = {t: n for t, n, _ in VARIANTS}
    for num, den in RATIOS:
        cells = []
        for p, n in shapes:
            a, b = med.get((by_tag[num], p, n)), med.get((by_tag[den], p, n))
            cells.append(f"{a / b:.2f}" if a and b else "n/a")
        print(f"| ({num})/({den}) | " + " | ".join(cells) + " |")
    if ekt:
        em = {k: statistics.median(v) for k, v in ekt.items()}
        print("\nEKT, fan-out 4, time per output packet and ratio to plain SRTP re-tag (same run):\n")
        print("| payload | plain | in-tag short | in-tag long | RFC 8870 short | RFC 8870 full |")
        print("|---|---|---|---|---|---|")
        for p in sorted({k[2] for k in em if k[1] != 2}):
            base = em.get((0, 0, p))
            cells = []
            for fmt, form in [(0, 0), (1, 0), (1, 1), (2, 0), (2, 1)]:
                v = em.get((fmt, form, p))
                cells.append("n/a" if v is None or base is None else f"{v:.0f} ns ({v / base:.2f})")
            print(f"| {p} B | " + " | ".join(cells) + " |")
        plain1 = med.get(("BM_SwitchMultiBuffer", 200, 1))
        print("\nLearning a new key on every packet (200 B, fan-out 1: verify + 1 output), per packet:\n")
        print("| format | ns per packet | ratio to plain re-tag | added by learning |")
        print("|---|---|---|---|")
        for fmt, name in [(1, "in-tag (AES-128-ECB)"), (2, "RFC 8870 (AESKWP-128)")]:
            v = em.get((fmt, 2, 200))
            if v is None or plain1 is None:
                print(f"| {name} | n/a | n/a | n/a |")
            else:
                print(f"| {name} | {v:.0f} | {v / plain1:.2f} | {v - plain1:.0f} ns |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
