#!/usr/bin/env python3
"""HTTP clients for bench/incidents.sh (Python 3.11 standard library only).

  flows  --port P [--clients 32] [--seconds 20]          (the bearer token in $BENCH_TOKEN)
         Each client declares a P2 incident, acknowledges it, adds a note and resolves it
         through the JSON API, in a loop, on its own keep-alive connection, for --seconds;
         prints flows/s, errors and p50/p99 per step and per flow.
  timed  --port P [--warmup 0] [--runs 30] [--fresh 6] LABEL=PATH...
         Sequential GETs of each PATH on one keep-alive connection with the Cookie header in
         $BENCH_COOKIE (--warmup + --runs times), checks 200; prints the first request's time, the
         median of the first --fresh requests, p50 / p99 / mean of the --runs after the warm-up,
         and the page size.
  next   --port P --hops N PATH
         Follows the list page's "Next page" link N times from PATH; prints the last path.

Only 127.0.0.1. Progress goes to standard error, figures to standard output.
"""

import argparse
import html
import http.client
import json
import os
import re
import statistics
import sys
import threading
import time

HOST = "127.0.0.1"
TIMEOUT = 30.0


def say(msg):
    print(time.strftime("[bench %H:%M:%S] ") + msg, file=sys.stderr, flush=True)


def pct(values, p):
    """Nearest-rank percentile (p99 of fewer than 100 values is the slowest one)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100)
    return ordered[int(rank) - 1]


def ms(seconds):
    v = seconds * 1000.0
    if v != v:
        return "n/a"
    return f"{v:.1f} ms" if v < 100 else f"{v:.0f} ms"


class Client:
    """One keep-alive connection; reconnects after an error."""

    def __init__(self, port, headers):
        self.port = port
        self.headers = headers
        self.conn = None

    def request(self, method, path, body=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=TIMEOUT)
        data = None if body is None else json.dumps(body).encode()
        t0 = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers=self.headers)
            resp = self.conn.getresponse()
            payload = resp.read()
        except Exception:
            self.close()
            raise
        elapsed = time.perf_counter() - t0
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
        return resp.status, payload, elapsed

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


STEPS = ("declare", "acknowledge", "note", "resolve")


def one_flow(client, tag, n):
    """Runs one flow; returns ({step: seconds}, None) or (partial timings, error text)."""
    times = {}
    status, payload, t = client.request(
        "POST", "/api/v1/incidents", {"title": f"Bench flow {tag}-{n}: elevated error rate", "severity": "P2"})
    times["declare"] = t
    if status != 201:
        return times, f"declare answered {status}: {payload[:200]!r}"
    number = json.loads(payload)["number"]
    for step, path, body, want in (
        ("acknowledge", f"/api/v1/incidents/{number}/acknowledge", {}, 200),
        ("note", f"/api/v1/incidents/{number}/events",
         {"kind": "note", "body": f"Bench note **{tag}-{n}**: rolled back the deploy, watching the error rate."}, 201),
        ("resolve", f"/api/v1/incidents/{number}/resolve", {}, 200),
    ):
        status, payload, t = client.request("POST", path, body)
        times[step] = t
        if status != want:
            return times, f"{step} of INC-{number} answered {status}: {payload[:200]!r}"
    return times, None


def cmd_flows(args):
    headers = {"Authorization": f"Bearer {os.environ['BENCH_TOKEN']}", "Content-Type": "application/json",
               "Accept": "application/json"}
    # One flow by hand first: it must succeed, or the figures would measure failures.
    check = Client(args.port, headers)
    _, err = one_flow(check, "check", 0)
    check.close()
    if err:
        say(f"error: a single flow failed: {err}")
        return 1

    lock = threading.Lock()
    steps = {s: [] for s in STEPS}
    flows = []
    errors = []
    start = threading.Barrier(args.clients + 1)
    deadline = [0.0]

    def worker(i):
        client = Client(args.port, headers)
        local_steps = {s: [] for s in STEPS}
        local_flows, local_errors = [], []
        start.wait()
        n = 0
        while time.perf_counter() < deadline[0]:
            n += 1
            try:
                times, err = one_flow(client, f"c{i}", n)
            except Exception as e:  # connection reset, timeout…
                times, err = {}, f"{type(e).__name__}: {e}"
            for s, t in times.items():
                local_steps[s].append(t)
            if err:
                local_errors.append(err)
            else:
                local_flows.append(sum(times.values()))
        client.close()
        with lock:
            for s in STEPS:
                steps[s].extend(local_steps[s])
            flows.extend(local_flows)
            errors.extend(local_errors)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(args.clients)]
    for th in threads:
        th.start()
    cpu0 = os.times()
    t0 = time.perf_counter()
    deadline[0] = t0 + args.seconds
    start.wait()
    for th in threads:
        th.join(args.seconds + 4 * TIMEOUT + 10)
    wall = time.perf_counter() - t0
    cpu1 = os.times()
    client_cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    if any(th.is_alive() for th in threads):
        say("error: some clients did not finish")
        return 1

    print(f"flows completed / errors          {len(flows)} / {len(errors)}  (in {wall:.1f} s; "
          f"{sum(len(v) for v in steps.values())} requests)")
    print(f"flows/s (requests/s)              {len(flows) / wall:.1f}  ({sum(len(v) for v in steps.values()) / wall:.0f})")
    print(f"per flow (4 requests) p50 / p99   {ms(pct(flows, 50))} / {ms(pct(flows, 99))}  "
          f"(max {ms(max(flows) if flows else float('nan'))})")
    for s in STEPS:
        v = steps[s]
        print(f"  {s:<12} p50 / p99            {ms(pct(v, 50))} / {ms(pct(v, 99))}  "
              f"(max {ms(max(v) if v else float('nan'))}, n = {len(v)})")
    print(f"load client CPU                   {client_cpu:.1f} s over {wall:.1f} s "
          f"({client_cpu / wall * 100:.0f}% of one core, taken from the portal's 2)")
    for e in sorted(set(errors))[:5]:
        print(f"  error: {e}")
    return 0


def cmd_timed(args):
    headers = {"Cookie": os.environ["BENCH_COOKIE"], "Accept": "text/html"}
    client = Client(args.port, headers)
    for spec in args.paths:
        label, _, path = spec.partition("=")
        times, size = [], 0
        for i in range(args.warmup + args.runs):
            status, payload, t = client.request("GET", path)
            if status != 200:
                say(f"error: GET {path} answered {status}: {payload[:300]!r}")
                return 1
            if args.expect and args.expect not in payload.decode("utf-8", "replace"):
                say(f"error: GET {path} does not contain {args.expect!r}")
                return 1
            times.append(t)
            size = len(payload)
        if args.series:
            with open(args.series, "a") as out:
                out.write(label + " " + " ".join(f"{t * 1000:.1f}" for t in times) + "\n")
        fresh = statistics.median(times[: args.fresh])
        measured = times[args.warmup:]
        say(f"{label}: p50 {ms(pct(measured, 50))}, p99 {ms(pct(measured, 99))} over {args.runs} GET {path}"
            f" (after {args.warmup} unmeasured)")
        print(f"{label}|{path}|{ms(times[0])}|{ms(fresh)}|{ms(pct(measured, 50))}|{ms(pct(measured, 99))}"
              f"|{ms(statistics.mean(measured))}|{size}")
    client.close()
    return 0


NEXT = re.compile(r'<a[^>]*href="([^"]*)"[^>]*rel="next"|<a[^>]*rel="next"[^>]*href="([^"]*)"')


def cmd_next(args):
    client = Client(args.port, {"Cookie": os.environ["BENCH_COOKIE"], "Accept": "text/html"})
    path = args.path
    for hop in range(args.hops):
        status, payload, _ = client.request("GET", path)
        if status != 200:
            say(f"error: GET {path} answered {status}")
            return 1
        m = NEXT.search(payload.decode("utf-8", "replace"))
        if not m:
            say(f"error: no Next page link on {path} (hop {hop + 1})")
            return 1
        path = html.unescape(m.group(1) or m.group(2))
    client.close()
    print(path)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("flows")
    f.add_argument("--port", type=int, required=True)
    f.add_argument("--clients", type=int, default=32)
    f.add_argument("--seconds", type=float, default=20)
    t = sub.add_parser("timed")
    t.add_argument("--port", type=int, required=True)
    t.add_argument("--runs", type=int, default=30)
    t.add_argument("--fresh", type=int, default=6)
    t.add_argument("--warmup", type=int, default=0)
    t.add_argument("--expect", default="")
    t.add_argument("--series", default="", help="append every run's milliseconds to this file")
    t.add_argument("paths", nargs="+")
    n = sub.add_parser("next")
    n.add_argument("--port", type=int, required=True)
    n.add_argument("--hops", type=int, required=True)
    n.add_argument("path")
    args = parser.parse_args()
    return {"flows": cmd_flows, "timed": cmd_timed, "next": cmd_next}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
