"""The app's warm-up reaches every compiled kernel of ``crlm.stats``."""
from __future__ import annotations

import subprocess
import sys

CHECK = """
import importlib, pkgutil
import crlm.stats as stats
from crlm.stats.warm import warm_kernels
kernels = {}
for info in pkgutil.iter_modules(stats.__path__, "crlm.stats."):
    module = importlib.import_module(info.name)
    for name, obj in vars(module).items():
        if hasattr(obj, "py_func") and hasattr(obj, "signatures") and obj.__module__ == info.name:
            kernels[f"{info.name}.{name}"] = obj
assert len(kernels) >= 10, sorted(kernels)
untouched = [k for k, f in kernels.items() if f.signatures]
assert not untouched, f"called before the warm-up: {untouched}"
warm_kernels()
# called only from inside other kernels, so compiled with them
inline = {"crlm.stats._kernels._merge_counts", "crlm.stats._kernels._placement_sums",
          "crlm.stats.roc_levels._walk", "crlm.stats._efron.efron_sums",
          "crlm.stats._cells_newton._cell_derivatives",
          "crlm.stats._cells_newton._derivatives", "crlm.stats._cells_newton._solve"}
cold = sorted(k for k, f in kernels.items() if not f.signatures and k not in inline)
print("COLD", cold)
"""


def test_every_kernel_is_loaded_by_the_warm_up():
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "COLD []" in done.stdout, done.stdout
