#!/usr/bin/env python
"""The gateway benchmark suite: what the gateway adds over reading the model directly.

Every scenario runs a direct client and the gateway (``python -m backend``, its own process) against
the same streaming fake model (``benchsuite.fakemodel``) in the same run, over ``--repeats`` repeats
(min / median / max), after a calibration step (a websockets echo round trip on loopback). The
gateway is pinned to core 0, the fake model and the clients to core 1 (``taskset``) when possible.

Scenarios: calibration, latency, ttft, saturation, paced, idle, restore, context, tail, cluster, openai, burst (see
docs/performance.md). Results: ``bench-results/bench-<time>.json`` (+ ``latest.json``), and the
results section of docs/performance.md is regenerated (between its markers) unless ``--no-docs``.

    python scripts/bench.py --quick            # a couple of minutes
    python scripts/bench.py                    # the full settings of the product issue
    python scripts/bench.py --only latency,saturation --profile
    python scripts/bench.py --repeats 1 --sessions 2 --tokens 20 --out /tmp/x --no-docs   # smoke
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from benchsuite import calibration, report
from benchsuite.common import REPO, Config, detect_pinning, loadavg, machine, raise_fd_limit
from benchsuite.procs import start_fake_model
from benchsuite.runner import Ctx
from benchsuite.scenarios import (
    burst,
    cluster,
    context,
    idle,
    latency,
    openai_path,
    paced,
    restore,
    saturation,
    tail,
    ttft,
)

SCENARIOS = {
    "latency": latency.run,
    "ttft": ttft.run,
    "saturation": saturation.run,
    "paced": paced.run,
    "idle": idle.run,
    "restore": restore.run,
    "context": context.run,
    "tail": tail.run,
    "cluster": cluster.run,
    "openai": openai_path.run,
    "burst": burst.run,
}


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller settings (a couple of minutes)")
    parser.add_argument("--only", default="", help=f"comma-separated scenarios: {','.join(SCENARIOS)}")
    parser.add_argument("--skip", default="", help="comma-separated scenarios to leave out")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--sessions", type=int, default=None, help="cap every scenario's session count")
    parser.add_argument("--tokens", type=int, default=None, help="tokens per stream in every streaming scenario")
    parser.add_argument("--out", type=Path, default=REPO / "bench-results", help="where the JSON goes")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "performance.md")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/performance.md")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument("--profile", action="store_true", help="also profile the gateway (pyinstrument) at saturation")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, databases)")
    parser.add_argument(
        "--update",
        action="store_true",
        help="start from the last results (latest.json) and replace only the scenarios run now",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = Config.quick() if args.quick else Config.full()
    cfg.shrink(sessions=args.sessions, tokens=args.tokens, repeats=args.repeats)
    chosen = [s for s in (args.only.split(",") if args.only else SCENARIOS) if s]
    chosen = [s for s in chosen if s not in set(args.skip.split(","))]
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    raise_fd_limit()
    pinning = detect_pinning(not args.no_pin)
    pinning.pin_self()
    work = Path(tempfile.mkdtemp(prefix="agentchat-bench-"))
    started = time.time()
    meta: dict[str, Any] = {
        "started": started,
        "started_iso": datetime.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "loadavg_start": loadavg(),
        "machine": machine(),
        "pinning": pinning.describe(),
        "config": cfg.as_dict(),
        "scenarios": chosen,
        "commit": _git_commit(),
        "work_dir": str(work),
    }
    stamp = datetime.datetime.fromtimestamp(started).strftime("%Y%m%d-%H%M%S")
    meta["file"] = f"bench-{stamp}.json"
    data: dict[str, Any] = {"meta": meta, "scenarios": {}, "notes": []}
    previous = args.out / "latest.json"
    if args.update and previous.is_file():
        old = json.loads(previous.read_text())
        data["scenarios"] = {k: v for k, v in old.get("scenarios", {}).items() if k not in chosen}
        meta["updated_from"] = old.get("meta", {}).get("file")
        meta["updated_scenarios"] = chosen
        meta["previous_meta"] = {k: old["meta"].get(k) for k in ("started_iso", "loadavg_start", "loadavg_end",
                                                                 "duration_s", "config")}  # fmt: skip
        data["calibration_previous"] = old.get("calibration")
    print(f"bench: {cfg.name} run, scenarios {', '.join(chosen)}; {pinning.describe()}; load {meta['loadavg_start']}",
          flush=True)  # fmt: skip
    fake, model_url = start_fake_model(pinning, work)
    ctx = Ctx(cfg=cfg, pinning=pinning, work=work, model_url=model_url, results_dir=args.out, profile=args.profile)
    args.out.mkdir(parents=True, exist_ok=True)
    failed = False
    try:
        t0 = time.perf_counter()
        data["calibration"] = calibration.run(pinning, work, cfg.calib_round_trips)
        print(f"  calibration: {time.perf_counter() - t0:.1f} s", flush=True)
        for name in chosen:
            t0 = time.perf_counter()
            try:
                data["scenarios"][name] = SCENARIOS[name](ctx)
                data["scenarios"][name]["_run"] = {
                    "file": meta["file"],
                    "started_iso": meta["started_iso"],
                    "loadavg_start": meta["loadavg_start"],
                    "calibration_rtt_p50_us": (data["calibration"].get("rtt_us") or {}).get("p50"),
                }
            except Exception as exc:  # report and go on with the other scenarios
                failed = True
                data["scenarios"][name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
                print(f"  {name}: FAILED: {exc}", file=sys.stderr, flush=True)
            print(f"  {name}: {time.perf_counter() - t0:.1f} s", flush=True)
            report.write_json(data, args.out, "partial.json", latest=False)  # what is done so far survives a crash
    finally:
        fake.stop()
    data["notes"] = ctx.notes
    meta["loadavg_end"] = loadavg()
    meta["duration_s"] = time.time() - started
    data["targets"] = report.targets(data["scenarios"])
    path = report.write_json(data, args.out, meta["file"])
    (args.out / "partial.json").unlink(missing_ok=True)
    print(f"bench: wrote {path} ({meta['duration_s']:.0f} s)", flush=True)
    if not args.no_docs:
        if report.update_doc(args.doc, report.markdown(data)):
            print(f"bench: updated the results section of {args.doc}", flush=True)
        else:
            print(f"bench: {args.doc} has no results markers; not updated", file=sys.stderr)
    for t in data["targets"]:
        verdict = "n/a" if t["met"] is None else ("met" if t["met"] else "MISSED")
        print(f"  {verdict:6} {t['target']}: {report.f(t['value'])} {t['unit']} (goal {t['limit']})", flush=True)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
