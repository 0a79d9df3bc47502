#!/usr/bin/env python3
"""Signal latency of `surgesim run` (README, 'What surgesim rejects'):
SIGINT and SIGTERM, 10 tries each, sent at evenly spread moments of a
Lambda run, a Kubernetes run, the scan and the replay of a 2-million-line
gzip ALB log, a run with 1e7 time-series rows, a run writing a 1.9 GB
requests.csv and one joining the four runs' parts of one (from the moment
the second run's part has been appended). Each try checks exit code 130 and
that the earlier outputs in the folder are unchanged with nothing left beside
them (a staging folder past 64 MB is removed by a helper process just after
the exit: the script waits for it); prints min, median and max of the time
from the signal to the exit, and the longest until the staging folder was gone.

    cargo build --release --examples
    python3 benches/signal_latency.py [case ...]

Cases: lambda k8s scan replay series requests join (default: all). Optional: the
project and its tests do not need Python.
"""
import hashlib, os, signal, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/surgesim")
GEN = os.path.join(ROOT, "target/release/examples/gen_traces")
WORK = tempfile.mkdtemp(prefix="surgesim-signals-")

SCENARIOS = {
    "lambda": 'name="sigl"\nseed=1\nduration_s=200000\n[workload]\narrival={kind="poisson", rate_per_s=200}\n[[platforms]]\nkind="lambda"\n',
    "k8s": 'name="sigk"\nseed=1\nduration_s=100000\n[workload]\narrival={kind="poisson", rate_per_s=100}\n[[platforms]]\nname="k"\nkind="kubernetes"\npod={cpu=1.0, memory_mb=1024, concurrency=8}\nscaling={kind="hpa", min_replicas=2, max_replicas=40, metric="cpu", target=0.6}\nnodes={instance="m5.large", initial=2, min=1, max=20}\n',
    "alb": 'name="siga"\nseed=1\n[workload]\narrival={kind="trace", format="alb", path="alb2m.log.gz", function_by="path"}\nwork={kind="constant", ms=50}\n[[platforms]]\nname="lambda"\nkind="lambda"\n',
    "series": 'name="sigs"\nseed=1\nduration_s=10000000\ntimeseries_interval_s=1\n[workload]\narrival={kind="poisson", rate_per_s=0.01}\n[[platforms]]\nname="l"\nkind="lambda"\n',
    "requests": 'name="sigr"\nseed=1\nduration_s=100000\n[workload]\narrival={kind="poisson", rate_per_s=200}\n[[platforms]]\nkind="lambda"\n',
    "join": 'name="sigj"\nseed=1\nreplications=4\nduration_s=25000\n[workload]\narrival={kind="poisson", rate_per_s=200}\n[[platforms]]\nkind="lambda"\n',
}
# (scenario, extra arguments, first and last moment of the signal [s]).
CASES = {
    "lambda": ("lambda", [], (0.3, 2.0)),
    "k8s": ("k8s", [], (0.3, 2.0)),
    "scan": ("alb", [], (0.1, 0.7)),
    "replay": ("alb", [], (1.2, 2.5)),
    "series": ("series", ["--max-series-mb", "100000"], (0.5, 6.0)),
    "requests": ("requests", ["--requests-csv"], (2.0, 17.0)),
    # From the moment the join starts (the second run's part is appended).
    "join": ("join", ["--requests-csv", "--jobs", "1"], (0.0, 0.8)),
}


def snapshot(folder):
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    out[rel] = hashlib.sha1(f.read()).hexdigest()
            else:
                out[rel] = "folder"
    return out


def wait_for_join(out, p):
    """Until the run's second request part (in its staging folder beside
    `out`'s scenario folder) has been appended to requests.csv and removed."""
    seen = False
    while p.poll() is None:
        parts = [os.path.join(out, d, ".part-1.csv") for d in os.listdir(out)
                 if d.startswith(".surgesim-")]
        if any(os.path.exists(x) for x in parts):
            seen = True
        elif seen:
            return
        time.sleep(0.005)
    sys.exit("join: the run ended before its request parts were joined")


def case(name):
    scenario, extra, (first, last) = CASES[name]
    path = os.path.join(WORK, scenario + ".toml")
    out = os.path.join(WORK, "out-" + name)
    # Earlier results in the folder, which a stopped run must leave as they are.
    subprocess.run([BIN, "run", "-q", "-o", out, os.path.join(ROOT, "scenarios/steady.toml")],
                   stdout=subprocess.DEVNULL, check=True)
    before = snapshot(out)
    for sig in (signal.SIGINT, signal.SIGTERM):
        waits, gone = [], []
        for i in range(10):
            at = first + (last - first) * i / 9
            p = subprocess.Popen([BIN, "run", "-q", "-o", out] + extra + [path],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if name == "join":
                wait_for_join(out, p)
            time.sleep(at)
            if p.poll() is not None:
                sys.exit(f"{name}: the run ended before the signal at {at:.2f} s; lower the moments")
            t0 = time.monotonic()
            p.send_signal(sig)
            p.wait()
            waits.append((time.monotonic() - t0) * 1000)
            err = p.stderr.read().decode()
            assert p.returncode == 130, f"{name}: exit {p.returncode}: {err}"
            # A staging folder past 64 MB is removed by a helper process
            # just after the exit: wait for it (a minute at most).
            while any(d.startswith(".surgesim-") for d in os.listdir(out)):
                assert time.monotonic() - t0 < 60, f"{name}: the staging folder is left"
                time.sleep(0.005)
            gone.append((time.monotonic() - t0) * 1000)
            assert snapshot(out) == before, f"{name}: the folder changed"
        print(f"{name:9} {sig.name:8} min {min(waits):6.1f}  median {statistics.median(waits):6.1f}"
              f"  max {max(waits):6.1f} ms; staging gone after at most {max(gone):6.1f} ms",
              flush=True)


def main():
    for scenario, text in SCENARIOS.items():
        with open(os.path.join(WORK, scenario + ".toml"), "w") as f:
            f.write(text)
    wanted = sys.argv[1:] or list(CASES)
    if {"scan", "replay"} & set(wanted):
        subprocess.run([GEN, "alb-big", os.path.join(WORK, "alb2m.log.gz"), "2000000", "20000"],
                       stdout=subprocess.DEVNULL, check=True)
    try:
        for name in wanted:
            case(name)
    finally:
        subprocess.run(["rm", "-rf", WORK])


if __name__ == "__main__":
    main()
