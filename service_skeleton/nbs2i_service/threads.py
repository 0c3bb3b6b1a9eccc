"""Thread pools of numeric libraries across gunicorn's fork (gunicorn.conf.py).

libgomp (the OpenMP of LightGBM's, XGBoost's and torch's wheels) is not fork-safe: a
process whose parent ran a parallel region with a pool of threads hangs at its own first
parallel region. The master loads the model with every pool at one thread, so no pool
exists when it forks; each worker then sets its pools to its share with threadpoolctl
(and torch's intra-op pool with torch.set_num_threads when the model imported torch).
"""
from __future__ import annotations

import os
import sys

THREAD_POOL_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def limit_for_load() -> None:
    """In the master, before the model loads: one thread per pool (read by each library at its load)."""
    for name in THREAD_POOL_VARIABLES:
        os.environ[name] = "1"


def limit_in_worker(per_worker: dict[str, str]) -> None:
    """In a worker, after fork: its share, for the libraries loaded already and those loaded later."""
    os.environ.update(per_worker)
    count = int(per_worker["OMP_NUM_THREADS"])
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # no numeric library that threadpoolctl knows is served
        pass
    else:
        threadpool_limits(limits=count)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(count)
