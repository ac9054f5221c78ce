"""Benchmark: a served model under a bounded load on 127.0.0.1.

Fits (or reuses, ``--run``) a hurdle spend model with 1,000 posterior draws (``--family
btyd``: an MBG/NBD + Gamma-Gamma run on the CDNOW master log, 23,570 customers, MAP with
1,000 Laplace draws; instances are customer ids), starts ``bayescope serve`` (waitress, 4
threads) in a subprocess and measures from this process:

* p50 / p99 latency of one-instance and 1,000-instance requests (sequential, keep-alive);
* requests per second of one-instance requests from 4 concurrent clients for ``--seconds``;
* the time of one 10,000-instance request;
* with ``--sustained SECONDS``: 16 keep-alive clients for that long while 50 slow
  connections dribble a request a byte a second, with a health check every second:
  requests/s, p50/p99, errors, the slowest health check and the server's memory.

The anchor is the same prediction computed in-process (``predict_spend_run``, or the served
BTYD model's own ``predict``; no HTTP, no JSON): the ratio served / in-process is what the
server adds. Targets (issue 5): p50 <= 10 ms
and p99 <= 50 ms for one instance, >= 300 requests/s, 10,000 instances in under 1 s.

Usage: ``python bench/api.py [--family spend|btyd] [--run RUN_DIR] [--seconds 10]
[--sustained 60]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from bayescope.data.campaign_spend import TARGET, validate_campaign_table
from bayescope.data.generate_spend import generate_spend_table
from bayescope.families.spend import SpendFitSettings, fit_spend, load_spend_run, predict_spend_run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(conn: http.client.HTTPConnection, path: str, body: bytes) -> float:
    start = time.perf_counter()
    conn.request("POST", path, body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    payload = response.read()
    elapsed = time.perf_counter() - start
    if response.status != 200:
        raise RuntimeError(f"{response.status}: {payload[:200]!r}")
    return elapsed


def latencies(port: int, path: str, body: bytes, n: int) -> np.ndarray:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    post(conn, path, body)  # warm-up
    out = np.array([post(conn, path, body) for _ in range(n)])
    conn.close()
    return out


def throughput(port: int, path: str, body: bytes, seconds: float, clients: int = 4) -> float:
    counts = [0] * clients
    stop = time.perf_counter() + seconds

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.perf_counter() < stop:
            post(conn, path, body)
            counts[i] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - start)


def server_memory_mb(pid: int) -> float:
    """Resident memory of the server process (Linux /proc), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sustained(port: int, path: str, body: bytes, seconds: float, pid: int, clients: int = 16,
              slow: int = 50) -> dict[str, float]:
    """``clients`` keep-alive clients posting one-instance requests for ``seconds`` while
    ``slow`` connections dribble a request one byte a second and never finish it, and a
    health check every second; latencies, errors and the server's memory over the run."""
    stop = time.perf_counter() + seconds
    times: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    health: list[float] = []
    memory = [server_memory_mb(pid)]

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < stop:
            try:
                times[i].append(post(conn, path, body))
            except (OSError, RuntimeError, http.client.HTTPException):
                errors[i] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.close()

    def dribbler() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            request = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 999\r\n\r\n"
            for byte in request.encode():
                if time.perf_counter() >= stop:
                    return
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    return  # the server dropped the slow client
                time.sleep(1.0)

    def checker() -> None:
        while time.perf_counter() < stop:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            start = time.perf_counter()
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            health.append(time.perf_counter() - start)
            conn.close()
            memory.append(server_memory_mb(pid))
            time.sleep(1.0)

    threads = ([threading.Thread(target=dribbler) for _ in range(slow)]
               + [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
               + [threading.Thread(target=checker)])
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    flat = np.concatenate([np.asarray(t) for t in times])
    return {"requests_per_s": flat.size / elapsed, "p50_ms": 1e3 * np.median(flat),
            "p99_ms": 1e3 * np.quantile(flat, 0.99), "errors": float(sum(errors)),
            "health_max_ms": 1e3 * max(health), "memory_start_mb": memory[0],
            "memory_mid_mb": memory[len(memory) // 2], "memory_end_mb": memory[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=("spend", "btyd"), default="spend")
    parser.add_argument("--run", default=None, help="an existing run directory of the family")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sustained", type=float, default=0.0,
                        help="also run 16 clients plus 50 slow ones for this many seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(args.run) if args.run else Path(tmp) / "run"
        prepare = prepare_btyd if args.family == "btyd" else prepare_spend
        rows, in_process = prepare(run_dir, fit=args.run is None)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "bayescope.cli", "-q", "serve",
                                   str(run_dir), "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(port)
            path = f"/v1/models/{run_dir.resolve().name}:predict"
            results = []
            for size, n in ((1, 300), (1000, 30)):
                body = json.dumps({"instances": rows[:size]}).encode()
                served = latencies(port, path, body, n)
                local = timed(lambda size=size: in_process(rows[:size]), n=min(n, 50))
                results.append({"request": f"{size} instance(s)",
                                "served p50 ms": 1e3 * np.median(served),
                                "served p99 ms": 1e3 * np.quantile(served, 0.99),
                                "in-process p50 ms": 1e3 * np.median(local),
                                "served / in-process": np.median(served) / np.median(local)})
            body = json.dumps({"instances": rows[:10_000]}).encode()
            big = latencies(port, path, body, 3)
            local = timed(lambda: in_process(rows[:10_000]), n=3)
            results.append({"request": "10000 instances", "served p50 ms": 1e3 * np.median(big),
                             "served p99 ms": 1e3 * big.max(),
                             "in-process p50 ms": 1e3 * np.median(local),
                             "served / in-process": np.median(big) / np.median(local)})
            rps = throughput(port, path, json.dumps({"instances": rows[:1]}).encode(),
                             args.seconds)
            load = (sustained(port, path, json.dumps({"instances": rows[:1]}).encode(),
                              args.sustained, server.pid) if args.sustained > 0 else None)
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(pd.DataFrame(results).round(2).to_string(index=False))
    print(f"one-instance requests per second (4 clients, {args.seconds:.0f} s): {rps:.0f}")
    if load is not None:
        print(f"sustained {args.sustained:.0f} s, 16 clients + 50 slow connections: "
              + ", ".join(f"{k} {v:.1f}" for k, v in load.items()))


def prepare_spend(run_dir: Path, fit: bool) -> tuple[list[dict], Callable[[list[dict]], object]]:
    """The spend run (fitted when ``fit``), its instances and the in-process anchor."""
    table = validate_campaign_table(generate_spend_table(10_000, np.random.default_rng(0)).table)
    if fit:
        print("fitting the spend model (4 chains x 1,000 draws; the API uses 1,000) ...")
        fit_spend(table, SpendFitSettings(draws=1000, chains=4, holdout_share=0.0,
                                          progress=False), run_dir)
    run = load_spend_run(run_dir)
    scoring = table.drop(columns=TARGET)
    rows = json.loads(scoring.assign(campaign_send_date=scoring["campaign_send_date"]
                                     .dt.strftime("%Y-%m-%d")).to_json(orient="records"))
    return rows, lambda instances: predict_spend_run(run, scoring.head(len(instances)),
                                                     warn=False)


def prepare_btyd(run_dir: Path, fit: bool) -> tuple[list[dict], Callable[[list[dict]], object]]:
    """The CDNOW BTYD run (fitted when ``fit``), customer-id instances and the anchor."""
    import bayescope as bs
    from bayescope.data import CDNOW_CALIBRATION_END, load_cdnow

    if fit:
        print("fitting MBG/NBD + Gamma-Gamma on CDNOW (MAP, 1,000 Laplace draws) ...")
        log = load_cdnow().rename(columns={"customer_id": "CustomerID",
                                           "timestamp": "Timestamp", "value": "PurchaseValue"})
        bs.BTYD(method="map", draws=1000, chains=1).fit(
            log, calibration_end=CDNOW_CALIBRATION_END).save(run_dir)
    served = bs.load(run_dir).served(run_dir.name, max_draws=1000)
    rows = [{"customer_id": str(c)} for c in served.run.rfm.customer_id]
    return rows, lambda instances: served.predict(instances)


def timed(call: Callable[[], object], n: int) -> np.ndarray:
    call()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return np.array(out)


def wait_for(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("server did not start")


if __name__ == "__main__":
    main()
