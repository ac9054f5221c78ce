"""Where Dask work runs: a running ``dask.distributed`` scheduler, or a local cluster.

Every data-heavy command takes ``--engine pandas|dask`` and ``--scheduler ADDRESS``. With the
Dask engine, :func:`dask_client` connects to the scheduler at ``ADDRESS`` (workers started
elsewhere, e.g. ``dask scheduler`` and ``dask worker tcp://host:8786`` on each machine) or, with
no address, starts a ``LocalCluster`` of worker processes (one thread each) and closes it
afterwards. Inside the ``with`` block every Dask computation runs on that cluster.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bayescope.errors import BayescopeInputError

ENGINES = ("pandas", "dask")
CONNECT_TIMEOUT_S = 10


def check_engine(engine: str, scheduler: str | None) -> None:
    """One clear error for an unknown engine, or a scheduler given without the Dask engine."""
    if engine not in ENGINES:
        raise BayescopeInputError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}",
                                  field="engine")
    if scheduler is not None and engine != "dask":
        raise BayescopeInputError("--scheduler needs --engine dask", field="scheduler")


def local_workers() -> int:
    """Worker processes of a local cluster: the cores this process may use, at most 8."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 8))


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` on ``scheduler``, or on a local cluster of ``workers``
    processes (default :func:`local_workers`), closed on exit.

    Raises
    ------
    BayescopeInputError
        If ``distributed`` is not installed or the scheduler cannot be reached.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise BayescopeInputError(
            "the Dask engine needs dask.distributed: pip install 'bayescope[scale]'",
            field="engine") from exc
    # The peer-to-peer shuffle logs its start and end of every shuffle at WARNING.
    logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:
            raise BayescopeInputError(f"cannot reach the Dask scheduler at {scheduler}: {exc}",
                                      field="scheduler") from exc
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers or local_workers(), threads_per_worker=1,
                      processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client
