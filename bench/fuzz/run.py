"""Run every fuzz harness for a bounded time and report executions, coverage and crashes.

    python bench/fuzz/run.py --seconds 60 [--only wire,endpoints] [--work-dir var/fuzz]

Each harness (`bench/fuzz/fuzz_<name>.py`) runs in its own process under libFuzzer (atheris)
with `-max_total_time`, on a corpus directory seeded from real, valid messages (`seeds.py`) and
kept between runs in the work directory. libFuzzer stops a harness at its first crash; the
crashing input is copied to `sensors/tests/fuzz_corpus/<harness>/` where
`sensors/tests/test_fuzz_regressions.py` replays it in every test run. The summary (per
harness: executions, exec/s, coverage edges `cov`, features `ft`, corpus size, crashes) is
printed and written to `bench/results/fuzz-<time>.json`. Run it under `flock /tmp/bench.lock`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HARNESSES = ("wire", "batch_json", "timestamps", "endpoints")
REGRESSIONS = ROOT / "sensors" / "tests" / "fuzz_corpus"
_DONE = re.compile(r"#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/")
_STATUS = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/")
_INITED = re.compile(r"INITED cov: (\d+)")
_EXECS = re.compile(r"stat::number_of_executed_units: (\d+)")


def seed_corpus(name: str, corpus: Path) -> int:
    """Write the harness's seeds (and earlier regressions) into `corpus`; returns how many."""
    from bench.fuzz.common import django_setup

    django_setup()
    from bench.fuzz.seeds import SEEDS

    corpus.mkdir(parents=True, exist_ok=True)
    seeds = list(SEEDS[name]())
    regressions = REGRESSIONS / name
    if regressions.is_dir():
        seeds += [path.read_bytes() for path in sorted(regressions.iterdir()) if path.is_file()]
    for seed in seeds:
        (corpus / f"seed-{hashlib.sha1(seed).hexdigest()}").write_bytes(seed)  # noqa: S324
    return len(seeds)


def run_harness(name: str, seconds: int, work: Path) -> dict[str, Any]:
    corpus = work / "corpus" / name
    crashes = work / "crashes" / name
    crashes.mkdir(parents=True, exist_ok=True)
    seeds = seed_corpus(name, corpus)
    env = dict(os.environ)
    env["ENERGYLEAF_VAR_DIR"] = tempfile.mkdtemp(prefix=f"fuzz-{name}-", dir=work)
    env.pop("DATABASE_URL", None)
    env["DJANGO_SETTINGS_MODULE"] = "energyleaf.settings.test"
    command = [
        sys.executable,
        "-m",
        f"bench.fuzz.fuzz_{name}",
        str(corpus),
        f"-max_total_time={seconds}",
        f"-artifact_prefix={crashes}/",
        "-print_final_stats=1",
        "-timeout=20",
        "-rss_limit_mb=3072",
        "-max_len=4096",
    ]
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - fixed command line
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 300,
        check=False,
    )
    elapsed = time.monotonic() - started
    log = result.stdout + result.stderr
    (work / f"{name}.log").write_text(log)
    shutil.rmtree(env["ENERGYLEAF_VAR_DIR"], ignore_errors=True)
    executions = _last_int(_EXECS, log, 1)
    status = _DONE.findall(log) or _STATUS.findall(log)
    cov, ft, corp = (
        (int(status[-1][1]), int(status[-1][2]), int(status[-1][3])) if status else (0, 0, 0)
    )
    initial = _INITED.findall(log)
    lines = _line_coverage(name, corpus, env, work)
    found = sorted(path for path in crashes.iterdir() if path.is_file())
    saved = [str(_save_regression(name, path).relative_to(ROOT)) for path in found]
    return {
        "harness": name,
        "seconds": round(elapsed, 1),
        "seeds": seeds,
        "executions": executions,
        "exec_per_s": round(executions / elapsed) if elapsed else 0,
        "coverage_edges_seeds": int(initial[0]) if initial else 0,
        "coverage_edges": cov,
        "features": ft,
        "corpus": corp,
        "line_coverage": lines,
        "exit_code": result.returncode,
        "crashes": saved,
        "crash_report": _crash_excerpt(log) if found or result.returncode not in (0,) else "",
    }


def _line_coverage(name: str, corpus: Path, env: dict[str, str], work: Path) -> dict[str, Any]:
    """Lines of the instrumented modules run by replaying the final corpus (a second process)."""
    env = dict(env, ENERGYLEAF_VAR_DIR=tempfile.mkdtemp(prefix=f"replay-{name}-", dir=work))
    result = subprocess.run(  # noqa: S603 - fixed command line
        [sys.executable, "-m", f"bench.fuzz.fuzz_{name}", "--line-coverage", str(corpus)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    shutil.rmtree(env["ENERGYLEAF_VAR_DIR"], ignore_errors=True)
    for line in result.stdout.splitlines():
        if line.startswith("LINE-COVERAGE "):
            counts: dict[str, list[int]] = json.loads(line.removeprefix("LINE-COVERAGE "))
            return {
                module: f"{run}/{total} ({100 * run / total:.0f}%)"
                for module, (run, total) in counts.items()
                if total
            }
    return {"error": (result.stderr or result.stdout)[-500:]}


def _last_int(pattern: re.Pattern[str], text: str, group: int) -> int:
    found = pattern.findall(text)
    if not found:
        return 0
    last = found[-1]
    return int(last if isinstance(last, str) else last[group - 1])


def _crash_excerpt(log: str) -> str:
    lines = log.splitlines()
    for index, line in enumerate(lines):
        if "Uncaught Python exception" in line or "ERROR: libFuzzer" in line:
            return "\n".join(lines[index : index + 25])
    return "\n".join(lines[-25:])


def _save_regression(name: str, crash: Path) -> Path:
    folder = REGRESSIONS / name
    folder.mkdir(parents=True, exist_ok=True)
    data = crash.read_bytes()
    target = folder / f"crash-{hashlib.sha1(data).hexdigest()[:16]}.bin"  # noqa: S324
    target.write_bytes(data)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="per harness")
    parser.add_argument("--only", default=",".join(HARNESSES), help="comma-separated harnesses")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "var" / "fuzz")
    args = parser.parse_args()
    names = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(names) - set(HARNESSES))
    if unknown:
        parser.error(f"unknown harness(es): {unknown}; known: {HARNESSES}")
    args.work_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for name in names:
        print(f"fuzzing {name} for {args.seconds} s ...", flush=True)
        outcome = run_harness(name, args.seconds, args.work_dir)
        results.append(outcome)
        print(
            f"  {name:11s} {outcome['executions']:>10,d} execs ({outcome['exec_per_s']:,d}/s)  "
            f"cov {outcome['coverage_edges_seeds']} -> {outcome['coverage_edges']}  "
            f"ft {outcome['features']}  "
            f"corpus {outcome['corpus']} (seeds {outcome['seeds']})  "
            f"crashes {len(outcome['crashes'])}",
            flush=True,
        )
        for module, lines in outcome["line_coverage"].items():
            print(f"    lines of {module}: {lines}", flush=True)
        if outcome["crash_report"]:
            print(outcome["crash_report"], flush=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = ROOT / "bench" / "results" / f"fuzz-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"seconds_per_harness": args.seconds, "python": sys.version, "results": results},
            indent=2,
        )
    )
    print(f"written {out.relative_to(ROOT)}")
    return 1 if any(outcome["crashes"] for outcome in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
