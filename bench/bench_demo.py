"""Demo cohort generation: the vectorised, streamed generator vs per-patient Python; and
the whole demo build into a store (``python -m crlm demo --no-train --no-imaging``) and one
model's training on it, each in a child process: wall and CPU time (user + system), the
child's peak resident memory, the store's size per 10^6 patients and the machine's 1-minute
load average before and after (wall time on a shared machine follows the load; CPU time
much less). The goals of the build at 10^6 patients: under 3 minutes, at most 1 GB.

The baseline draws the same kinds of variables one patient at a time (scalar
calls on a numpy Generator, one dict per patient, 53 feature rows per patient,
then a DataFrame), which is how a simulation is often first written. It runs on
a sample and is extrapolated linearly to the benchmark size; the note says so.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import Result, peak_memory_mb, timed
from crlm.ingest.demo import GENOMIC_FEATURES, RADIOMIC_FEATURES, generate_cohort

SEED = 20240601
BUILD_SEED = 7


def _stream(n_patients: int) -> int:
    """Generate and drop every chunk, as the store writer does; returns the patient count."""
    total = 0
    for chunk in generate_cohort(n_patients, SEED):
        total += len(chunk.patients)
    return total


def _per_patient_python(n_patients: int, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_features = len(RADIOMIC_FEATURES) + len(GENOMIC_FEATURES)
    names = RADIOMIC_FEATURES + GENOMIC_FEATURES
    rows, feature_rows = [], []
    for i in range(n_patients):
        pid = f"DEMO-{i + 1:06d}"
        side = ("right", "left", "rectum")[int(rng.choice(3, p=[0.29, 0.43, 0.28]))]
        braf = rng.random() < (0.10 if side == "right" else 0.02)
        kras = not braf and rng.random() < 0.41
        nras = not braf and not kras and rng.random() < 0.065
        burden = rng.standard_normal()
        lesions = 1 if rng.random() < 1 / (1 + math.exp(0.25 + 1.2 * burden)) else 2 + int(
            rng.poisson(math.exp(0.6 + 0.5 * burden)))
        diameter = round(math.exp(math.log(3.8) + 0.3 * burden + 0.5 * rng.standard_normal()), 1)
        cea = round(math.exp(math.log(19) + 0.6 * burden + 1.35 * rng.standard_normal()), 1)
        signal = rng.standard_normal()
        logit = -0.5 - 0.8 * burden + 1.5 * signal
        responder = rng.random() < 1 / (1 + math.exp(-logit))
        log_hr = 0.44 * (kras or nras) + 0.79 * braf + 0.34 * (side == "right") - 0.4 * responder
        os_months = 40.0 * (rng.standard_exponential() * math.exp(-log_hr)) ** (1 / 1.5)
        rows.append({
            "patient_id": pid, "age_years": round(float(rng.normal(61.5, 11.5)), 1),
            "primary_side": side, "kras": "mutant" if kras else "wild-type",
            "nras": "mutant" if nras else "wild-type", "braf_v600e": "mutant" if braf else "wild-type",
            "n_liver_lesions": lesions, "max_diameter_cm": diameter, "cea_ng_ml": cea,
            "tumour_burden_score": math.hypot(diameter, lesions), "responder": responder,
            "os_months": round(min(os_months, 180.0), 1), "os_event": os_months < 180.0,
        })
        for k in range(n_features):
            feature_rows.append((pid, "radiomic" if k < len(RADIOMIC_FEATURES) else "genomic",
                                 names[k], float(rng.standard_normal())))
    return pd.DataFrame(rows), pd.DataFrame(
        feature_rows, columns=["patient_id", "feature_set", "feature", "value"])


def _child(args: list[str]) -> tuple[float, float, float]:
    """Run ``python -m crlm ARGS`` in a child process: (wall s, CPU s, peak RSS MB)."""
    wall, (user, system), rss = _child_usage(args)
    return wall, user + system, rss


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def _child_usage(args: list[str]) -> tuple[float, tuple[float, float], float]:
    """Run ``python -m crlm ARGS`` in a child process: (wall s, (user s, system s), peak
    RSS MB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "crlm", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"python -m crlm {' '.join(args)} exited {proc.returncode}")
    return wall, (usage.ru_utime, usage.ru_stime), usage.ru_maxrss / 1024  # Linux: KiB


def build_rows(sizes: tuple[int, ...], train_up_to: int) -> list[Result]:
    """The demo build at each size and one logistic model's training at each size up to
    ``train_up_to``, in child processes."""
    results = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="crlm-bench-demo-") as tmp:
            db = Path(tmp) / "demo.duckdb"
            load_before = _load()
            wall, (user, system), rss = _child_usage(
                ["--db", str(db), "demo", "--patients", str(n), "--seed", str(BUILD_SEED),
                 "--no-train", "--no-imaging"])
            size_mb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 1e6
            results.append(Result(
                benchmark="demo build into the store", n=n, ours_s=wall, peak_mb=rss,
                note=f"CPU {user + system:.1f} s ({user:.1f} user, {system:.1f} system); "
                     f"store {size_mb:,.0f} MB = {size_mb * 1e6 / n / 1e3:.2f} GB per 10^6 "
                     f"patients; load {load_before} before, {_load()} after; peak MB is the "
                     f"child's resident set"))
            if n > train_up_to:
                continue
            wall, cpu, rss = _child(["--db", str(db), "train", "--task", "response",
                                     "--family", "logistic", "--folds", "3", "--fast"])
            results.append(Result(
                benchmark="train logistic (response, 3 folds)", n=n, ours_s=wall, peak_mb=rss,
                note=f"CPU {cpu:.1f} s; peak MB is the child's resident set"))
    return results


def run(quick: bool) -> list[Result]:
    sizes = (10_000, 100_000) if quick else (100_000, 1_000_000)
    sample = 2_000 if quick else 10_000
    baseline_sample_s, _ = timed(lambda: _per_patient_python(sample), repeat=1)
    per_patient_s = baseline_sample_s / sample
    results = []
    for n in sizes:
        ours_s, total = timed(lambda: _stream(n), repeat=1 if n >= 1_000_000 else 2)
        assert total == n
        peak = peak_memory_mb(lambda: _stream(n))
        results.append(Result(
            benchmark="demo cohort generation (streamed)",
            n=n,
            ours_s=ours_s,
            baseline_s=per_patient_s * n,
            baseline="per-patient Python loop",
            peak_mb=peak,
            note=f"baseline timed on {sample:,} patients, extrapolated linearly; "
                 f"{n / ours_s:,.0f} patients/s",
        ))
    results.extend(build_rows((20_000,), 20_000) if quick
                   else build_rows((200_000, 500_000, 1_000_000), 500_000))
    return results


if __name__ == "__main__":
    for r in run(quick=True):
        print(r)
