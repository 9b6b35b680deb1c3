"""How long a browser takes to draw a Kaplan–Meier figure of 10^6 patients.

The figure the Survival page sends (two curves with confidence bands, censoring ticks and
the number at risk, thinned to at most ``crlm.figures.survival.MAX_POINTS`` points per
curve) against the same figure from the full curves. Each is drawn in Debian's Chromium
(headless, through Playwright) from its JSON text, as Streamlit's front end receives it:
the clock runs from parsing the JSON to the first frame after ``Plotly.newPlot`` has
finished (plotly.js from the installed plotly package, no network). Best of ``REPEATS``
draws, each in a fresh page.

    python -m bench.bench_km_browser [--quick]
    python -m bench.run --only km_browser
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.common import Result
from bench.bench_figures import _cohort, _km

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"]
REPEATS = 3
PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script src="plotly.min.js"></script></head><body><div id="km" style="width:1100px"></div>
<script>
fetch("figure.json").then(r => r.text()).then(text => {
  const t0 = performance.now();
  const fig = JSON.parse(text);
  Plotly.newPlot("km", fig.data, fig.layout).then(() => requestAnimationFrame(() => {
    window.drawMs = performance.now() - t0;
  }));
});
</script></body></html>"""


def _plotly_js() -> Path:
    import plotly
    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def draw_seconds(figure_json: str, repeats: int = REPEATS) -> float:
    """Best of ``repeats`` draws of the figure in Chromium, in seconds."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "plotly.min.js").write_bytes(_plotly_js().read_bytes())
        (root / "figure.json").write_text(figure_json)
        (root / "index.html").write_text(PAGE)
        best = float("inf")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                         headless=True)
            try:
                for _ in range(repeats):
                    page = browser.new_page()
                    page.goto((root / "index.html").as_uri(), wait_until="load")
                    page.wait_for_function("window.drawMs !== undefined", timeout=120_000)
                    best = min(best, page.evaluate("window.drawMs") / 1000)
                    page.close()
            finally:
                browser.close()
    return best


def run(quick: bool) -> list[Result]:
    n = 100_000 if quick else 1_000_000
    time_months, event, predicted, *_ = _cohort(n)
    figs = [_km(time_months, event, predicted, points) for points in (2000, 10 ** 9)]
    points, all_points = (sum(len(t.x) for t in f.data if t.x is not None) for f in figs)
    thinned, full = (f.to_json() for f in figs)
    ours, base = draw_seconds(thinned), draw_seconds(full)
    return [Result("figures: Kaplan–Meier drawn in Chromium (thinned)", n, ours, base,
                   "the same figure from the full curves",
                   note=f"{points:,} vs {all_points:,} points; JSON {len(thinned) / 1e6:.2f} "
                        f"vs {len(full) / 1e6:.2f} MB; best of {REPEATS}")]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for r in run("--quick" in argv):
        ratio = f"{r.ratio:.1f}x" if r.ratio else ""
        print(f"{r.benchmark}  n={r.n:,}  {r.ours_s:.3f} s  vs {r.baseline_s:.3f} s  {ratio}  "
              f"{r.note}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
