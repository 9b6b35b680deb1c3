"""Federated runs over Flower on loopback: wall time per round and bytes sent per site.

Three of the demo's centres as three site stores; a SuperLink and one
``crlm federated join`` per site, each in its own process on 127.0.0.1 (insecure
loopback, messages signed with a consortium secret). Ours: the Flower run (from
``flwr run`` to the summary); baseline: the same run with every site answered in this
process (``LocalTransport``), i.e. the ratio is what the Flower processes cost.

    python -m bench.bench_federated [--quick]   # prints the per-round table too
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Result

SITES = ("A", "B", "C")


def _consortium(tmp: Path, n: int) -> dict:
    from crlm import store as st
    from crlm.federated.demo import split_by_centre

    pooled = tmp / "pooled.duckdb"
    subprocess.run([sys.executable, "-m", "crlm", "--db", str(pooled), "-q", "demo", "--patients",
                    str(n), "--no-train", "--no-imaging"], check=True, capture_output=True)
    with st.Store(pooled) as s:
        paths = split_by_centre(s, "demo", tmp / "sites")
    return {name.split()[-1]: (str(p), "demo") for name, p in paths.items()
            if name.split()[-1] in SITES}


def measure(quick: bool, out=print) -> list[Result]:
    from crlm.federated.coordinator import LocalTransport, run_consortium
    from crlm.federated.loopback import Loopback
    from crlm.federated.processes import federated_bin
    from crlm.federated.protocol import FederatedError, RunSpec

    try:
        federated_bin("flower-superlink")
    except FederatedError as exc:
        out(f"# federated benchmark skipped: {exc}")
        return []
    n = 600 if quick else 1200
    cases = [("response", "logistic")] + ([] if quick else [("os_risk", "cox")])
    results = []
    with tempfile.TemporaryDirectory(prefix="crlm-bench-fed-") as tmp:
        tmp = Path(tmp)
        secret = tmp / "consortium.secret"
        secret.write_bytes(os.urandom(32).hex().encode())
        secret.chmod(0o600)
        sites = _consortium(tmp, n)
        for task, family in cases:
            spec = dict(task=task, family=family, folds=3, tolerance=1e-4)
            t0 = time.perf_counter()
            local = run_consortium(LocalTransport(sites), RunSpec(run_id=f"bench-local-{family}",
                                                                  **spec), log=lambda *_: None)
            base = time.perf_counter() - t0
            t0 = time.perf_counter()
            with Loopback(sites, tmp / f"run-{family}", secret_file=secret) as c:
                started = time.perf_counter() - t0
                t1 = time.perf_counter()
                summary = c.run(RunSpec(run_id=f"bench-flower-{family}", **spec))
                ours = time.perf_counter() - t1
            if not summary.get("ok"):
                raise RuntimeError(summary.get("error"))
            rounds = summary["rounds"]
            sent = {s: sum(r["bytes_by_site"].get(s, 0) for r in rounds) for s in SITES}
            out(f"\n{task} / {family}: {len(rounds)} rounds, {n} patients in the demo "
                f"({', '.join(SITES)} as sites); processes started in {started:.1f} s, "
                f"flwr run to summary {ours:.1f} s, in rounds {summary['seconds']:.1f} s; "
                f"in-process {base:.1f} s")
            out(f"{'round':>5} {'kind':<10} {'seconds':>8} " + " ".join(f"{'bytes ' + s:>12}" for s in SITES))
            for r in rounds:
                out(f"{r['round']:>5} {r['kind']:<10} {r['seconds']:>8.2f} "
                    + " ".join(f"{r['bytes_by_site'].get(s, 0):>12,}" for s in SITES))
            out(f"{'':>5} {'total':<10} {sum(r['seconds'] for r in rounds):>8.2f} "
                + " ".join(f"{sent[s]:>12,}" for s in SITES))
            per_round = summary["seconds"] / len(rounds)
            results.append(Result(
                f"federated: {family}, 3 sites over Flower", n, ours, base,
                "the same run with the sites in-process",
                note=f"{len(rounds)} rounds, {per_round:.1f} s/round, "
                     f"{max(sent.values()) / 1e6:.1f} MB sent per site; local(n={len(local.rounds)})"))
    return results


def run(quick: bool) -> list[Result]:
    return measure(quick, out=lambda text: print(text, file=sys.stderr))


if __name__ == "__main__":
    for r in measure("--quick" in sys.argv):
        print(f"{r.benchmark}: ours {r.ours_s:.1f} s, baseline {r.baseline_s:.1f} s | {r.note}")
