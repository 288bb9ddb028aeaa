"""Whole-process time of one command, hyperfine-style: README "Cold start".

Runs the command REPEATS times (default 11) after one warm-up run (so the
files are in the page cache, as for a user's second search; the tokenizer
cache is written by the warm-up if it was missing), and prints the median,
min and max wall time in milliseconds and the largest peak RSS.

Usage: python3 benches/cold_start.py [--repeats N] [--label TEXT] -- COMMAND...
"""
import os
import statistics
import subprocess
import sys
import time


def run_once(cmd):
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"command failed ({status}): {' '.join(cmd)}\n{err}")
    return wall * 1e3, usage.ru_maxrss / 1024


def main():
    args = sys.argv[1:]
    repeats, label = 11, None
    while args and args[0] != "--":
        flag = args.pop(0)
        if flag == "--repeats":
            repeats = int(args.pop(0))
        elif flag == "--label":
            label = args.pop(0)
        else:
            sys.exit(__doc__)
    if not args:
        sys.exit(__doc__)
    cmd = args[1:]
    run_once(cmd)
    runs = [run_once(cmd) for _ in range(repeats)]
    walls = [w for w, _ in runs]
    rss = max(r for _, r in runs)
    print(f"| {label or ' '.join(cmd)} | {statistics.median(walls):.1f} | "
          f"{min(walls):.1f} | {max(walls):.1f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
