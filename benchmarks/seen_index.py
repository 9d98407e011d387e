"""Time per key of the duplicate index (readers/seen.py) as it grows: in memory, then spilled.

The reader claims keys in blocks of 256 (``claim_all``, the CSV fast path), all new, as in a
clean export. The CPU time of each million keys is printed (the generation of the keys included,
a constant); a linear index keeps it flat.

    python benchmarks/seen_index.py --keys 10000000
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from billing_rules.readers.seen import SeenInvoices  # noqa: E402

BLOCK = 256


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=10_000_000)
    parser.add_argument("--step", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    seen = SeenInvoices()
    practitioners = [f"1000000{n:04d}" for n in range(100)]
    start = time.process_time()  # CPU time: the figures survive a busy machine
    step_start = start
    line = 2
    step_done = 0
    for first in range(0, args.keys, BLOCK):
        count = min(BLOCK, args.keys - first)
        invoices = [f"F{first + n:09d}" for n in range(count)]
        owners = [practitioners[(first + n) % 100] for n in range(count)]
        lines = list(range(line, line + count))
        line += count
        if not seen.claim_all(owners, invoices, lines, "bench.csv"):
            raise SystemExit("a new key was taken for a duplicate")
        done = first + count
        if done // args.step > (done - count) // args.step or done == args.keys:
            now = time.process_time()
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            step = (now - step_start) / (done - step_done) * 1e6
            print(
                f"{done:>11,} keys  {step:6.2f} µs/key over the last step  "
                f"{(now - start) / done * 1e6:6.2f} µs/key overall  peak RSS {rss} MB",
                flush=True,
            )
            step_start = now
            step_done = done
    seen.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
