#!/usr/bin/env python3
"""Whole-file comparison of pcap-miner with its floor, cat and tshark.

In one run, on the same generated captures, this times (alternating the
commands, several rounds each):

  cat             reading the file and nothing else
  floor           pcap-floor: pcap-parser + etherparse, 5-tuple counting
  mine -j1        pcap-miner mine on one thread
  mine            pcap-miner mine on all cores
  tshark x4       the original service's four tshark passes (when tshark is installed)

and prints medians of wall and CPU time, peak RSS, MB/s and the ratios. It
checks that `mine` found exactly the generator's ground truth, and counts
instructions of the floor and of `mine -j1` with callgrind on a small capture.

Usage: benches/compare.py [--sizes 50M,200M,1G] [--rounds 3] [--write-readme]
Needs: cargo, GNU time (/usr/bin/time), ../shared/tools/gen-capture (or
--gen-capture), optionally tshark and valgrind. Standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "target" / "bench-data"

TSHARK_PASSES = [
    ["-T", "fields", "-e", "http.request.full_uri"],
    ["-z", "conv,tcp"],
    ["-Y", 'ssl.handshake.extension.type == "server_name"', "-T", "fields",
     "-e", "tls.handshake.extensions_server_name", "-e", "tcp.dstport"],
    ["-Y", "dns.flags.response == 0", "-T", "fields", "-e", "dns.qry.name"],
]


def run_measured(argv):
    """Runs one command with output discarded; returns wall s, CPU s, peak RSS KiB.

    GNU time reports the peak RSS: the rusage of a child forked from this
    Python process counts the pages of Python's image it started with.
    """
    with tempfile.NamedTemporaryFile("r") as rss_file:
        timed = ["/usr/bin/time", "-f", "%M", "-o", rss_file.name, *map(str, argv)]
        start = time.perf_counter()
        process = subprocess.Popen(timed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"command failed: {' '.join(map(str, argv))}")
        rss_kib = int(rss_file.read().strip().splitlines()[-1])
    return wall, usage.ru_utime + usage.ru_stime, rss_kib


def warm(capture):
    """Reads the capture once, untimed, so that the timed command finds it in the page cache.

    A virtual machine may give back page cache between runs, and a command
    that reads part of the file from disk would be timed on the disk.
    """
    buffer = bytearray(1 << 20)
    with open(capture, "rb", buffering=0) as file:
        while file.readinto(buffer):
            pass


def run_tshark(capture):
    """Runs the four tshark passes one after the other; returns summed wall and CPU, max RSS."""
    wall = cpu = rss = 0
    for passes in TSHARK_PASSES:
        w, c, r = run_measured(["tshark", "-q", "-n", "-r", str(capture), *passes])
        wall, cpu, rss = wall + w, cpu + c, max(rss, r)
    return wall, cpu, rss


def generate(generator, size, fmt):
    """Generates a capture and its truth file once; later runs reuse them."""
    DATA.mkdir(parents=True, exist_ok=True)
    suffix = "pcapng" if fmt == "pcapng" else "pcap"
    capture = DATA / f"gen-{size}-seed1.{suffix}"
    truth = DATA / f"gen-{size}-seed1.{suffix}.truth.json"
    if not capture.exists() or not truth.exists():
        print(f"generating {capture.name}", file=sys.stderr)
        subprocess.run([generator, "--size", size, "--seed", "1", "--format", fmt, "-q",
                        "--truth", truth, "-o", capture], check=True)
    return capture, truth


def check_truth(miner, capture, truth):
    """Fails unless mine reports exactly the generator's ground truth."""
    output = subprocess.run([miner, "mine", "-q", "--max-results", "-1", str(capture)],
                            check=True, capture_output=True, text=True).stdout
    mined = json.loads(output)
    expected = json.loads(Path(truth).read_text())
    for kind in ("http", "tcp", "sni", "dns"):
        got = set(mined.get(f"network-{kind}", []))
        want = set(expected[kind])
        # Values whose last packet the size limit cut off may be reported or not.
        optional = set(expected.get("incomplete", {}).get(kind, []))
        if not want <= got or not (got - want) <= optional:
            raise SystemExit(f"{capture.name}: network-{kind} differs from the ground truth: "
                             f"{len(want - got)} missing, {len(got - want - optional)} extra")
    return sum(len(expected[k]) for k in ("http", "tcp", "sni", "dns"))


def callgrind_instructions(argv):
    """Returns the instruction count callgrind reports for one command."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for line in out.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise SystemExit("callgrind wrote no total")


def machine_description():
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} {platform.release()}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50M,200M,1G", help="generated capture sizes, comma-separated")
    parser.add_argument("--formats", default="pcap,pcapng:1G", help="formats; FORMAT:SIZE limits one to a size")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per command (median reported)")
    parser.add_argument("--tshark-rounds", type=int, default=1, help="rounds of the four tshark passes; 0 skips")
    parser.add_argument("--callgrind-size", default="20M", help="capture size for the instruction count")
    parser.add_argument("--gen-capture", default=str(ROOT.parent / "shared" / "tools" / "gen-capture"))
    parser.add_argument("--write-readme", action="store_true", help="write the table into benches/README.md")
    args = parser.parse_args()

    subprocess.run(["cargo", "build", "--release", "-q", "-p", "pcap-miner-cli", "-p", "pcap-miner-bench"],
                   cwd=ROOT, check=True)
    miner = str(ROOT / "target" / "release" / "pcap-miner")
    floor = str(ROOT / "target" / "release" / "pcap-floor")
    have_tshark = shutil.which("tshark") is not None and args.tshark_rounds > 0

    jobs = []
    for spec in args.formats.split(","):
        fmt, _, only = spec.partition(":")
        for size in args.sizes.split(","):
            if not only or only == size:
                jobs.append((size, fmt))

    rows = []
    for size, fmt in jobs:
        capture, truth = generate(args.gen_capture, size, fmt)
        values = check_truth(miner, capture, truth)
        megabytes = capture.stat().st_size / 1e6
        commands = {
            "cat": ["cat", str(capture)],
            "floor": [floor, str(capture)],
            "mine -j1": [miner, "mine", "-q", "--threads", "1", str(capture)],
            f"mine -j{os.cpu_count()}": [miner, "mine", "-q", "--threads", str(os.cpu_count()), str(capture)],
        }
        samples = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, argv in commands.items():
                warm(capture)
                samples[name].append(run_measured(argv))
        if have_tshark:
            samples["tshark x4"] = [run_tshark(capture) for _ in range(args.tshark_rounds)]
        medians = {name: tuple(statistics.median(s[i] for s in runs) for i in range(3))
                   for name, runs in samples.items()}
        for name, (wall, cpu, rss) in medians.items():
            rows.append((f"{size} {fmt}", name, wall, cpu, rss / 1024, megabytes / wall))
        print(f"{capture.name}: {values} ground-truth values found by mine", file=sys.stderr)

    table = ["| capture | command | wall s | CPU s | peak RSS MiB | MB/s | vs floor | vs mine -j1 |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    by_capture = {}
    for capture_name, name, wall, cpu, rss, rate in rows:
        by_capture.setdefault(capture_name, {})[name] = wall
    for capture_name, name, wall, cpu, rss, rate in rows:
        walls = by_capture[capture_name]
        vs_floor = walls["floor"] / wall
        vs_single = walls["mine -j1"] / wall
        table.append(f"| {capture_name} | {name} | {wall:.3f} | {cpu:.3f} | {rss:.1f} | {rate:.0f} | "
                     f"{vs_floor:.2f}x | {vs_single:.2f}x |")

    notes = []
    if shutil.which("valgrind"):
        small, _ = generate(args.gen_capture, args.callgrind_size, "pcap")
        floor_count = callgrind_instructions([floor, str(small)])
        mine_count = callgrind_instructions([miner, "mine", "-q", "--threads", "1", str(small)])
        notes.append(f"callgrind on {small.name}: floor {floor_count:,} instructions, mine -j1 "
                     f"{mine_count:,}, ratio {mine_count / floor_count:.2f}")
    else:
        notes.append("callgrind skipped: valgrind is not installed")
    if not have_tshark:
        notes.append("tshark skipped: not installed (or --tshark-rounds 0)")
    pcap_jobs = [job for job in jobs if job[1] == "pcap"] or jobs
    notes.extend(read_modes(generate(args.gen_capture, *pcap_jobs[-1])[0], args.rounds))

    report = "\n".join(table + [""] + [f"- {note}" for note in notes])
    print(report)
    if args.write_readme:
        write_readme(report, args)


def read_modes(capture, rounds):
    """Times pread into a buffer against mmap on `capture`, with benches/read_modes.c."""
    if shutil.which("gcc") is None:
        return ["read against mmap skipped: gcc is not installed"]
    with tempfile.TemporaryDirectory() as folder:
        program = Path(folder) / "read_modes"
        subprocess.run(["gcc", "-O2", "-pthread", str(ROOT / "benches" / "read_modes.c"), "-o", str(program)],
                       check=True)
        lines = []
        for threads in sorted({1, os.cpu_count()}):
            for mode in ["read", "mmap"]:
                output = subprocess.run([str(program), str(capture), mode, str(threads), str(rounds)],
                                        check=True, capture_output=True, text=True).stdout.strip()
                lines.append(output)
    return [f"benches/read_modes.c on {capture.name}, loading one byte per cache line: {line}" for line in lines]


def write_readme(report, args):
    date = datetime.date.today().isoformat()
    text = f"""# Benchmarks

## Whole-file comparison

Measured {date} on {machine_description()} with `benches/compare.py --sizes {args.sizes} --formats {args.formats} --rounds {args.rounds} --tshark-rounds {args.tshark_rounds}`.
Captures come from the corpus generator (seed 1). Each timed run is preceded by an untimed read of the capture, so
that it is in the page cache; each figure is the median of the rounds.
`vs floor` is the floor's wall time divided by the command's (above 1 is faster than the floor); `vs mine -j1`
likewise against one thread. Before timing, `mine` was checked to find exactly the generator's ground truth.

{report}

`mine -jN` runs N threads, and each takes the file a 256 KiB chunk at a time. A thread reads its chunk at the
chunk's offset. It finds the chunk's records in turn with the other threads, a quick walk over record headers. Then
it decodes them into one list of TCP segments and UDP datagrams per connection shard, picked by a symmetric hash of
the endpoints. Each thread owns one shard and mines its list from every chunk in capture order, so the result is
that of one thread. Reading the file (the kernel's copy out of the page cache) is a third to a half of the time on
one thread, and two cores copy less than twice as fast as one.

Mapping the file (`mmap`) reads it faster than `pread` here (last notes above). pcap-miner still
reads with `pread`: a mapped file that another process truncates, such as a capture still being written, ends the
reader with SIGBUS instead of an error, and the library contains no unsafe code.

## Per-stage benchmarks

`cargo bench -p pcap-miner-bench` runs criterion on a 50 MiB generated capture. `mine/whole_file_50M_j1` and
`mine/whole_file_50M_jN` (on all N cores) measure bytes of capture per second. `stage/*` measure capture reading,
decoding, flows and reassembly, HTTP heads, TLS ClientHellos and DNS questions. Each is checked against a count
taken before timing.
"""
    (ROOT / "benches" / "README.md").write_text(text)


if __name__ == "__main__":
    main()
