"""``python -m bench`` (``make bench``): every speed figure of the project, each beside its reference.

    python -m bench [--quick] [--only http,coap,pg]
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUITES = {"http": "bench.http_bench", "coap": "bench.coap_bench", "pg": "bench.pg_bench", "live": "bench.live_bench",
          "store": "bench.store_bench", "events": "bench.events_bench", "metrics": "bench.metrics_bench",
          "ops": "bench.ops_bench", "front": "bench.front_bench", "webhooks": "bench.webhook_bench",
          "console": "bench.console_bench"}


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench")
    ap.add_argument("--quick", action="store_true", help="shorter runs (smoke-test the harness)")
    ap.add_argument("--only", default=",".join(SUITES), help="comma-separated suites: " + ", ".join(SUITES))
    args = ap.parse_args()
    failed = []
    for name in args.only.split(","):
        try:
            module = importlib.import_module(SUITES[name])
        except ModuleNotFoundError as exc:
            print(f"\n## {name}: not available ({exc})")
            continue
        try:
            module.main(quick=args.quick) if "quick" in module.main.__code__.co_varnames else module.main()
        except Exception as exc:  # one broken suite must not hide the others' figures
            print(f"\n## {name}: FAILED: {exc!r}", file=sys.stderr)
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
