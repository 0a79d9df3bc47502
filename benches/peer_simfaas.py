#!/usr/bin/env python3
"""Peer benchmark: the same workload simulated by surgesim and by SimFaaS
(Mahmoudi & Khazaei, https://github.com/pacslab/simfaas, `pip install simfaas`),
in simulated requests per second of each and their ratio.

The workload is SimFaaS's own example: Poisson arrivals, exponential service
(warm mean 2.016 s, cold mean 2.163 s), a fixed keep-alive of 600 s and a
concurrency cap of 1,000, at two loads: about 40 and about 250 busy
instances. surgesim runs it on Lambda with the same rates, keep-alive and
cap, and INIT a constant 0.147 s (the difference of the two means: SimFaaS
draws a cold request's whole service time from the cold distribution).

    cargo build --release
    python3 benches/peer_simfaas.py

SimFaaS is optional (the project and its tests do not need Python): without
it the script says so and times surgesim only. Each simulator is timed on
the whole run in one process (surgesim: the CLI with `-q --no-charts -j 1`,
outputs written; SimFaaS: `generate_trace`), the best of three.
"""
import csv, os, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/surgesim")
WARM_S, COLD_S, KEEP_S, CAP = 2.016, 2.163, 600, 1000
# (arrival rate [1/s], SimFaaS horizon [s], surgesim horizon [s]): SimFaaS
# runs about 10 s a point here; surgesim a few million requests.
LOADS = [(20.0, 10_000, 100_000), (125.0, 400, 20_000)]
TRIES = 3


def surgesim(rate, horizon, work):
    toml = os.path.join(work, "peer.toml")
    with open(toml, "w") as f:
        f.write(f"""name = "peer"
seed = 1
duration_s = {horizon}
[workload]
arrival = {{ kind = "poisson", rate_per_s = {rate} }}
work = {{ kind = "exponential", mean_s = {WARM_S} }}
[[platforms]]
kind = "lambda"
memory_mb = 2048
account_concurrency = {CAP}
init = {{ kind = "constant", s = {COLD_S - WARM_S:.3f} }}
keep_alive = {{ kind = "fixed", idle_s = {KEEP_S} }}
""")
    best = None
    for _ in range(TRIES):
        t0 = time.perf_counter()
        subprocess.run([BIN, "run", "-q", "--no-charts", "-j", "1", "-o", work, toml],
                       stdout=subprocess.DEVNULL, check=True)
        took = time.perf_counter() - t0
        best = took if best is None else min(best, took)
    with open(os.path.join(work, "peer", "summary.csv")) as f:
        row = next(csv.DictReader(f))
    return int(row["requests"]), best, float(row["mean_instances"])


def run_simfaas(rate, horizon):
    from simfaas.ServerlessSimulator import ServerlessSimulator
    best, n, servers = None, 0, 0.0
    for _ in range(TRIES):
        sim = ServerlessSimulator(arrival_rate=rate, warm_service_rate=1 / WARM_S,
                                  cold_service_rate=1 / COLD_S,
                                  expiration_threshold=KEEP_S, max_time=horizon,
                                  maximum_concurrency=CAP)
        t0 = time.perf_counter()
        sim.generate_trace(debug_print=False, progress=False)
        took = time.perf_counter() - t0
        best = took if best is None else min(best, took)
        n, servers = sim.total_req_count, sim.get_average_server_count()
    return n, best, servers


def main():
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} is missing: run `cargo build --release` first")
    try:
        import simfaas  # noqa: F401
        have_peer = True
    except ImportError:
        have_peer = False
        print("SimFaaS is not installed (`pip install simfaas`): timing surgesim only")
    print(f"{'load':>12} {'simulator':>9} {'requests':>11} {'seconds':>8} "
          f"{'req/s':>12} {'instances':>9}")
    with tempfile.TemporaryDirectory(prefix="surgesim-peer-") as work:
        for rate, peer_horizon, own_horizon in LOADS:
            load = f"{rate:g} req/s"
            n, s, inst = surgesim(rate, own_horizon, work)
            ours = n / s
            print(f"{load:>12} {'surgesim':>9} {n:>11,} {s:>8.3f} {ours:>12,.0f} {inst:>9.1f}")
            if have_peer:
                n, s, inst = run_simfaas(rate, peer_horizon)
                theirs = n / s
                print(f"{load:>12} {'SimFaaS':>9} {n:>11,} {s:>8.3f} {theirs:>12,.0f} {inst:>9.1f}")
                print(f"{load:>12} {'ratio':>9} {'':>11} {'':>8} {ours / theirs:>11,.0f}x")


if __name__ == "__main__":
    main()
