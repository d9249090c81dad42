#!/usr/bin/python3
"""tests/bench/webhook_burst.py: serve mode under a burst of signed webhooks
(issue 14, item 4). Measures, never asserts speed.

    tests/bench/webhook_burst.py [--targets 100] [--deliveries 20000] [--seconds 10]
                                 [--workers 3] [--connections 32] [--items 10]
                                 [--retries 3] [--timeout 10] [--sync-timeout 600]
                                 [--pg-stats] [--keep [DIR]] [--pinsync PATH]
                                 [--json FILE]
    tests/bench/run --webhooks [the same options]

Starts a throwaway PostgreSQL and the Pinterest API simulator
(tests/lib/harness.py), adds N targets, each with a small CSV feed (--items),
a catalog of its own in the simulator and a webhook secret file of its own,
and starts W `pinsync serve` processes (--workers; one sync at a time each)
on that one database, on distinct ports of 127.0.0.1. Then it sends D
deliveries over T seconds, delivery k to a target drawn at random (seeded)
and to server k mod W, each signed with its target's secret (the three
signature headers in turn) and carrying a delivery id of its own
(X-Pinsync-Delivery), from a bounded pool of C threads, each keeping one
keep-alive connection per server (http.client). All of them come from
127.0.0.1, as from a load balancer, so the servers' PINSYNC_SERVE_CONN_PER_IP
is raised to the connections plus 8; every other setting is the default (the
harness's short batch polls aside).

Bounded: the threads take send slots from one pacer that hands them out no
closer than T/D seconds apart and never catches up, so the rate never exceeds
D/T; when the servers answer too slowly for C threads to keep that rate, the
burst takes longer, and the table says how long it took.

A delivery is answered 202 (queued or coalesced) or 200 (a replay: an earlier
attempt of it was recorded). A 5xx, a connection error or a timeout is what a
sender retries: it is tried again with the same delivery id after 0.5, 1, 2 s
(--retries), each attempt taking a send slot too. A delivery is lost when no
attempt got a 2xx; any other answer (401, 404, 400) is a failure of the
benchmark. Each delivery answered 2xx must then be in webhook_deliveries, the
servers' queued counters must add up to the jobs table's rows, and queued
plus coalesced to webhook_deliveries' rows.

Then it waits until every target that got a delivery has a run that ended ok
and started after its last delivery was recorded (webhook_deliveries.first_seen,
the time of the statement that queued or coalesced it: a run that started
later read the feed after the delivery), and reports: deliveries sent and
answers by status, latency p50/p95/p99/max (every answered attempt, from
sending the request to reading the whole answer), jobs inserted against
deliveries accepted and runs done (the coalescing), deliveries lost, the time
from the first delivery until every target had synced, and each serve
process's own webhook and job counters (/metrics), and the CPU the serve
processes, PostgreSQL and the load generator used while it sent. --pg-stats
adds the statements that took PostgreSQL's time (pg_stat_statements, planning
included); --keep keeps the serve logs and every attempt (attempts.csv).

Exit status: 0 when nothing was lost, every answer was expected, every target
synced and every serve process stopped with status 0; 1 otherwise; 2 for usage
errors. Every process it started is stopped at the end, also on failure.
"""

import argparse
import base64
import csv
import hashlib
import hmac
import http.client
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
from harness import PgCluster, Pinsync, Simulator, free_port, parse_metrics  # noqa: E402

COLUMNS = ["id", "title", "description", "link", "image_link", "price", "availability"]
STYLES = ("hub", "shopify", "wc")
BACKOFF_S = (0.5, 1.0, 2.0, 4.0)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    sys.stderr.write(f"[burst {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def sign(secret, body, style):
    """The signature header a store of that style sends: HMAC-SHA256 of the body."""
    mac = hmac.new(secret, body, hashlib.sha256).digest()
    if style == "hub":
        return ("X-Hub-Signature-256", "sha256=" + mac.hex())
    if style == "shopify":
        return ("X-Shopify-Hmac-Sha256", base64.b64encode(mac).decode())
    return ("X-WC-Webhook-Signature", base64.b64encode(mac).decode())


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(-(-p * len(sorted_values) // 100)) - 1))
    return sorted_values[k]


def cpu_seconds(pid):
    """user+sys CPU of a live process, from /proc (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def cluster_cpu_seconds(pg):
    """user+sys CPU of a PostgreSQL cluster so far: the postmaster, its live
    processes, and the children it has reaped (the postmaster's cutime+cstime)."""
    procs = pg.processes()
    if not procs:
        return None
    with open(os.path.join(pg.data, "postmaster.pid")) as f:
        master = int(f.readline())
    total = 0.0
    for pid, fields in procs.items():
        ticks = int(fields[11]) + int(fields[12])
        if pid == master:
            ticks += int(fields[13]) + int(fields[14])
        total += ticks / CLK_TCK
    return total


# ---------------------------------------------------------------- serve processes

class Serve:
    """One `pinsync serve` on a free port of 127.0.0.1, its log (JSON lines) in a file."""

    def __init__(self, ps, workdir, index, env):
        self.index = index
        self.port = free_port()
        self.env = dict(ps.env, **env)
        self.log_path = os.path.join(workdir, f"serve-{index}.log")
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [ps.bin, "serve", "--listen", f"127.0.0.1:{self.port}"], env=self.env,
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf)
        self.cpu = None
        self.rc = None

    def get(self, path, timeout=5):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}",
                                    timeout=timeout) as r:
            return r.status, r.read().decode()

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pinsync serve {self.index} exited {self.proc.returncode}: "
                                   f"see {self.log_path}")
            try:
                if self.get("/readyz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"pinsync serve {self.index} not ready after {timeout} s")

    def stop(self, timeout=60):
        """SIGTERM (its sync may finish), then SIGKILL; returns the exit status."""
        if self.proc.poll() is None:
            self.cpu = cpu_seconds(self.proc.pid)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"pinsync serve {self.index} did not stop within {timeout} s: killed")
                self.proc.kill()
                self.proc.wait(10)
        self.logf.close()
        self.rc = self.proc.returncode
        return self.rc

    def log_levels(self):
        """{level: lines} of its log."""
        counts = {}
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    level = json.loads(line).get("level", "?")
                except ValueError:
                    level = "unparsed"
                counts[level] = counts.get(level, 0) + 1
        return counts


# ---------------------------------------------------------------- the load

class Delivery:
    __slots__ = ("k", "target", "server", "body", "headers", "attempts", "final")

    def __init__(self, k, target, server, body, headers):
        self.k, self.target, self.server = k, target, server
        self.body, self.headers = body, headers
        self.attempts = []   # (latency s or None, status int or error name, time.time())
        self.final = None    # the last attempt's status or error name


class Pacer:
    """Send slots no closer than interval apart: the rate never exceeds 1/interval,
    and a pacer that fell behind does not catch up."""

    def __init__(self, interval):
        self.interval = interval
        self.next = None
        self.lock = threading.Lock()

    def wait_slot(self):
        with self.lock:
            now = time.monotonic()
            slot = now if self.next is None else max(self.next, now)
            self.next = slot + self.interval
        delay = slot - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class Sender:
    """C threads sending the deliveries, each with one keep-alive connection per server."""

    def __init__(self, deliveries, ports, connections, seconds, retries, timeout):
        self.deliveries = deliveries
        self.ports = ports
        self.connections = connections
        self.pacer = Pacer(seconds / len(deliveries))
        self.retries = retries
        self.timeout = timeout
        self.next_k = 0
        self.lock = threading.Lock()
        self.first_send = None
        self.last_send = None
        self.last_answer = None
        self.exceptions = []

    def _take(self):
        with self.lock:
            if self.next_k >= len(self.deliveries):
                return None
            d = self.deliveries[self.next_k]
            self.next_k += 1
            return d

    def _attempt(self, conns, d):
        conn = conns.get(d.server)
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.ports[d.server],
                                              timeout=self.timeout)
            conns[d.server] = conn
        t0 = time.perf_counter()
        try:
            conn.request("POST", f"/hooks/{d.target}", body=d.body, headers=d.headers)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
            if resp.will_close:
                conn.close()
                del conns[d.server]
            return time.perf_counter() - t0, status
        except (socket.timeout, TimeoutError):
            kind = "timeout"
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            kind = "conn:" + type(e).__name__
        conn.close()
        del conns[d.server]
        return None, kind

    def _run(self):
        conns = {}
        try:
            while True:
                d = self._take()
                if d is None:
                    return
                for attempt in range(1 + self.retries):
                    if attempt:
                        time.sleep(BACKOFF_S[min(attempt - 1, len(BACKOFF_S) - 1)])
                    self.pacer.wait_slot()
                    now = time.time()
                    with self.lock:
                        if self.first_send is None:
                            self.first_send = now
                        self.last_send = now
                    latency, status = self._attempt(conns, d)
                    d.attempts.append((latency, status, now))
                    d.final = status
                    retry = not isinstance(status, int) or status >= 500
                    if not retry:
                        break
                with self.lock:
                    self.last_answer = time.time()
        except Exception as e:  # noqa: BLE001 - reported, the others go on
            self.exceptions.append(f"{type(e).__name__}: {e}")
        finally:
            for c in conns.values():
                c.close()

    def run(self):
        threads = [threading.Thread(target=self._run, daemon=True)
                   for _ in range(self.connections)]
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        self.cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)


# ---------------------------------------------------------------- the benchmark

class Burst:

    def __init__(self, a):
        self.a = a
        self.problems = []
        self.figures = []    # (figure, value) rows of the table
        self.result = {}     # everything, for --json
        self.serves = []
        self.pg = self.sim = None
        if a.keep and a.keep is not True:
            os.makedirs(a.keep, exist_ok=True)
            self.work = tempfile.mkdtemp(prefix="pinsync-burst-", dir=a.keep)
        else:
            self.work = tempfile.mkdtemp(prefix="pinsync-burst-")

    def fig(self, what, value):
        self.figures.append((what, value))

    # -- set-up

    def start(self):
        a = self.a
        log(f"starting PostgreSQL and the simulator in {self.work}")
        self.pg = PgCluster().start()
        if a.pg_stats:
            with open(os.path.join(self.pg.data, "postgresql.conf"), "a") as f:
                f.write("\nshared_preload_libraries = 'pg_stat_statements'\n"
                        "pg_stat_statements.track = all\n"
                        "pg_stat_statements.track_planning = on\n")
            self.pg.pg_ctl("restart")
            self.pg.psql("CREATE EXTENSION pg_stat_statements")
        self.sim = Simulator("--processing-polls", "1", "--log-file",
                             os.path.join(self.work, "pinsim-requests.log"))
        self.ps = Pinsync(self.pg, self.sim)
        self.ps.run("migrate", check=0)
        self.ps.run("auth", "set", "--access-token", Simulator.ACCESS_TOKEN, "--refresh-token",
                    Simulator.REFRESH_TOKEN, "--expires-in", "86400", check=0)
        feeds = os.path.join(self.work, "feeds")
        os.makedirs(feeds)
        self.targets = {}
        t0 = time.monotonic()
        for i in range(a.targets):
            name = f"shop{i:03d}"
            catalog = str(5000 + i)
            self.sim.add_catalog(catalog)
            feed = os.path.join(feeds, name + ".csv")
            with open(feed, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(COLUMNS)
                for j in range(a.items):
                    w.writerow([f"{name}-{j:03d}", f"Item {j} of {name}", f"About item {j}",
                                f"https://shop.example/{name}/{j}",
                                f"https://shop.example/{name}/{j}.jpg", f"{10 + j}.00 USD",
                                "in stock"])
            secret = hashlib.sha256(f"burst-{a.seed}-{name}".encode()).hexdigest().encode()
            secret_file = os.path.join(feeds, name + ".secret")
            with open(secret_file, "wb") as f:
                f.write(secret)
            self.ps.run("target", "add", name, "--feed", feed, "--catalog-id", catalog,
                        "--country", "US", "--language", "en-US", "--webhook-secret-file",
                        secret_file, check=0)
            self.targets[name] = secret
        log(f"{a.targets} targets ({a.items} items each, a catalog and a secret each) "
            f"added in {time.monotonic() - t0:.1f} s")
        # Every thread may hold a connection to every server, all from 127.0.0.1:
        # as behind a load balancer, the per-address limit is raised above that.
        env = {"PINSYNC_SERVE_CONN_PER_IP": str(min(256, max(32, a.connections + 8)))}
        for i in range(a.workers):
            self.serves.append(Serve(self.ps, self.work, i, env))
        for s in self.serves:
            s.wait_ready()
        log(f"{a.workers} serve processes ready on ports "
            f"{', '.join(str(s.port) for s in self.serves)}")

    def stop(self):
        for s in self.serves:
            try:
                rc = s.stop()
            except Exception as e:  # noqa: BLE001 - stop the others all the same
                self.problems.append(f"stopping serve {s.index}: {e}")
                continue
            if rc != 0:
                self.problems.append(f"pinsync serve {s.index} exited {rc}: see {s.log_path}")
        if self.sim is not None:
            self.sim.stop()
        if self.pg is not None:
            self.pg.destroy()

    # -- the burst

    def make_deliveries(self):
        a = self.a
        rng = random.Random(a.seed)
        names = sorted(self.targets)
        run_id = f"{os.getpid()}-{int(time.time())}"
        out = []
        for k in range(a.deliveries):
            name = rng.choice(names)
            body = json.dumps({"event": "product.updated", "n": k,
                               "product": rng.randrange(10 ** 6)}).encode()
            header, value = sign(self.targets[name], body, STYLES[(k // a.workers) % 3])
            headers = {"Content-Type": "application/json", header: value,
                       "X-Pinsync-Delivery": f"burst-{run_id}-{k}"}
            out.append(Delivery(k, name, k % a.workers, body, headers))
        return out

    def burst(self):
        a = self.a
        self.deliveries = self.make_deliveries()
        cpu0 = [cpu_seconds(s.proc.pid) or 0.0 for s in self.serves]
        pg0 = cluster_cpu_seconds(self.pg) or 0.0
        log(f"sending {a.deliveries} deliveries over {a.seconds:g} s to {a.workers} servers "
            f"from {a.connections} connections")
        sender = Sender(self.deliveries, [s.port for s in self.serves], a.connections,
                        a.seconds, a.retries, a.timeout)
        if a.pg_stats:
            self.pg.psql("SELECT pg_stat_statements_reset()")
        sender.run()
        self.sender = sender
        if a.pg_stats:
            self.pg_stats = self.pg.psql(
                "SELECT calls, round((total_plan_time + total_exec_time)::numeric),"
                " round(((total_plan_time + total_exec_time) / greatest(calls, 1))::numeric, 3),"
                " round(total_plan_time::numeric),"
                " regexp_replace(left(query, 60), '\\s+', ' ', 'g')"
                " FROM pg_stat_statements"
                " ORDER BY total_plan_time + total_exec_time DESC LIMIT 6")
        for e in sender.exceptions:
            self.problems.append(f"sender thread: {e}")
        log(f"burst done: {sender.last_send - sender.first_send:.1f} s of sending, "
            f"load generator CPU {sender.cpu:.1f} s")
        self.cpu_burst = [(cpu_seconds(s.proc.pid) or 0.0) - c0
                          for s, c0 in zip(self.serves, cpu0)]
        self.cpu_burst_pg = (cluster_cpu_seconds(self.pg) or 0.0) - pg0

    # -- after it

    def wait_synced(self):
        """Waits until every target with a delivery has an ok run started after its
        last one was recorded; returns {target: (last delivery, that run's end)}."""
        sql = ("WITH last AS (SELECT target_id, max(first_seen) AS at FROM webhook_deliveries"
               " GROUP BY target_id)"
               " SELECT t.name, extract(epoch FROM l.at),"
               " (SELECT extract(epoch FROM min(r.finished_at)) FROM runs r"
               "  WHERE r.target_id = t.id AND r.outcome = 'ok' AND r.finished_at IS NOT NULL"
               "  AND r.started_at > l.at)"
               " FROM targets t JOIN last l ON l.target_id = t.id")
        deadline = time.monotonic() + self.a.sync_timeout
        while True:
            rows = self.pg.psql(sql)
            pending = [r[0] for r in rows if r[2] == ""]
            if not pending:
                break
            if time.monotonic() > deadline:
                self.problems.append(f"{len(pending)} targets not synced after their last "
                                     f"delivery within {self.a.sync_timeout} s: "
                                     f"{', '.join(pending[:10])}")
                break
            time.sleep(0.25)
        return {r[0]: (float(r[1]), float(r[2]) if r[2] else None) for r in rows}

    def report(self):
        a = self.a
        s = self.sender
        ds = self.deliveries
        by_final = {}
        attempts_by = {}
        latencies = []
        first_latencies = []
        for d in ds:
            by_final[d.final] = by_final.get(d.final, 0) + 1
            for i, (lat, st, _) in enumerate(d.attempts):
                attempts_by[st] = attempts_by.get(st, 0) + 1
                if lat is not None:
                    latencies.append(lat)
                    if i == 0:
                        first_latencies.append(lat)
        latencies.sort()
        accepted = [d for d in ds if isinstance(d.final, int) and 200 <= d.final < 300]
        lost = [d for d in ds if d.final is None or not isinstance(d.final, int)
                or d.final >= 500]
        refused = [d for d in ds if isinstance(d.final, int) and 300 <= d.final < 500]
        retried = sum(1 for d in ds if len(d.attempts) > 1)
        attempts = sum(len(d.attempts) for d in ds)
        sending = s.last_send - s.first_send

        synced = self.wait_synced()
        all_synced_at = max((v[1] for v in synced.values() if v[1] is not None), default=None)
        log("every target synced" if all(v[1] for v in synced.values()) else
            "some targets did not sync")

        # What the database holds.
        recorded = {r[0] for r in self.pg.psql("SELECT delivery_id FROM webhook_deliveries")}
        missing = [d for d in accepted if d.headers["X-Pinsync-Delivery"] not in recorded]
        jobs = dict((r[0], int(r[1])) for r in self.pg.psql(
            "SELECT state, count(*) FROM jobs GROUP BY state"))
        jobs_inserted = sum(jobs.values())
        runs = dict((r[0], int(r[1])) for r in self.pg.psql(
            "SELECT outcome, count(*) FROM runs GROUP BY outcome"))
        runs_done = sum(n for o, n in runs.items() if o != "running")
        waits = sorted(float(r[0]) for r in self.pg.psql(
            "SELECT extract(epoch FROM started_at - created_at) FROM jobs"
            " WHERE started_at IS NOT NULL"))
        # Each process's own counters.
        per_serve = []
        for sv in self.serves:
            try:
                m = parse_metrics(sv.get("/metrics")[1])
            except OSError as e:
                self.problems.append(f"serve {sv.index}: /metrics: {e}")
                m = {}
            hooks = {dict(k[1])["result"]: int(v) for k, v in m.items()
                     if k[0] == "pinsync_webhooks_total"}
            ran = {dict(k[1])["state"]: int(v) for k, v in m.items()
                   if k[0] == "pinsync_jobs_run_total"}
            per_serve.append({"port": sv.port, "webhooks": hooks, "jobs_run": ran})
        hooks_total = {}
        for p in per_serve:
            for k, v in p["webhooks"].items():
                hooks_total[k] = hooks_total.get(k, 0) + v

        # Problems: what must hold.
        if lost:
            self.problems.append(f"{len(lost)} deliveries lost (no 2xx after "
                                 f"{1 + a.retries} attempts), e.g. {lost[0].attempts}")
        if refused:
            self.problems.append(f"{len(refused)} deliveries refused: "
                                 f"{sorted({d.final for d in refused})}")
        if missing:
            self.problems.append(f"{len(missing)} deliveries answered 2xx are not in "
                                 f"webhook_deliveries")
        if hooks_total.get("queued", 0) != jobs_inserted:
            self.problems.append(f"the servers counted {hooks_total.get('queued', 0)} queued "
                                 f"webhooks, the jobs table holds {jobs_inserted} jobs")
        if hooks_total.get("queued", 0) + hooks_total.get("coalesced", 0) != len(recorded):
            self.problems.append(f"queued + coalesced = {hooks_total.get('queued', 0)} + "
                                 f"{hooks_total.get('coalesced', 0)}, but "
                                 f"webhook_deliveries holds {len(recorded)} ids")
        if runs.get("ok", 0) != runs_done:
            self.problems.append(f"runs by outcome: {runs}")

        def ms(v):
            return "-" if v is None else f"{v * 1000:.1f} ms"

        fl = sorted(first_latencies)
        self.fig("targets / serve processes / connections",
                 f"{a.targets} / {a.workers} / {a.connections}")
        self.fig("deliveries sent (attempts)", f"{len(ds)} ({attempts}; {retried} retried)")
        self.fig("offered rate, sending time",
                 f"{len(ds) / a.seconds:.0f}/s over {a.seconds:g} s nominal; "
                 f"{attempts / sending if sending > 0 else 0:.0f}/s over {sending:.2f} s "
                 f"achieved")
        self.fig("answers by status (every attempt)",
                 ", ".join(f"{k}: {v}" for k, v in sorted(attempts_by.items(), key=str)))
        self.fig("webhooks by result (servers' counters)",
                 ", ".join(f"{k}: {v}" for k, v in sorted(hooks_total.items()) if v))
        self.fig("latency p50 / p95 / p99 / max",
                 f"{ms(percentile(latencies, 50))} / {ms(percentile(latencies, 95))} / "
                 f"{ms(percentile(latencies, 99))} / {ms(latencies[-1] if latencies else None)}")
        self.fig("latency, first attempts, p50 / p99",
                 f"{ms(percentile(fl, 50))} / {ms(percentile(fl, 99))}")
        self.fig("deliveries accepted / lost / refused",
                 f"{len(accepted)} / {len(lost)} / {len(refused)}")
        self.fig("accepted deliveries missing in webhook_deliveries", str(len(missing)))
        self.fig("jobs inserted (by state)",
                 f"{jobs_inserted} ({', '.join(f'{k} {v}' for k, v in sorted(jobs.items()))})")
        self.fig("coalescing: deliveries accepted per job",
                 f"{len(accepted) / jobs_inserted:.1f}" if jobs_inserted else "-")
        self.fig("runs done (by outcome)",
                 f"{runs_done} ({', '.join(f'{k} {v}' for k, v in sorted(runs.items()))})")
        self.fig("job wait, queued to claimed, p50 / max",
                 f"{percentile(waits, 50) or 0:.2f} s / {waits[-1] if waits else 0:.2f} s")
        ok_synced = all(v[1] for v in synced.values())
        if all_synced_at is not None and ok_synced:
            self.fig("first delivery -> every target synced",
                     f"{all_synced_at - s.first_send:.2f} s "
                     f"({all_synced_at - s.last_answer:.2f} s after the last answer)")
        else:
            self.fig("first delivery -> every target synced", "NOT REACHED")
        for i, p in enumerate(per_serve):
            w = p["webhooks"]
            self.fig(f"serve {i}: webhooks queued/coalesced/replay/error, jobs run",
                     f"{w.get('queued', 0)}/{w.get('coalesced', 0)}/{w.get('replay', 0)}/"
                     f"{w.get('error', 0)}, "
                     f"{', '.join(f'{k} {v}' for k, v in sorted(p['jobs_run'].items())) or '0'}")
        self.fig("CPU during the burst: serve processes / PostgreSQL / load generator",
                 f"{' + '.join(f'{c:.1f}' for c in self.cpu_burst)} s / "
                 f"{self.cpu_burst_pg:.1f} s / {s.cpu:.1f} s")
        for calls, total, mean, plan, query in getattr(self, "pg_stats", []):
            self.fig(f"SQL: {query}",
                     f"{calls} calls, {total} ms ({plan} planning), {mean} ms each")
        self.result.update({
            "targets": a.targets, "workers": a.workers, "connections": a.connections,
            "deliveries": len(ds), "attempts": attempts, "retried": retried,
            "seconds_nominal": a.seconds, "seconds_sending": round(sending, 3),
            "answers": {str(k): v for k, v in attempts_by.items()},
            "webhooks_total": hooks_total,
            "latency_ms": {p: round(percentile(latencies, p) * 1000, 2) if latencies else None
                           for p in (50, 95, 99, 100)},
            "accepted": len(accepted), "lost": len(lost), "refused": len(refused),
            "missing": len(missing), "jobs": jobs, "jobs_inserted": jobs_inserted,
            "runs": runs, "runs_done": runs_done,
            "all_synced_s": round(all_synced_at - s.first_send, 3)
            if all_synced_at is not None and ok_synced else None,
            "per_serve": per_serve, "cpu_burst_serve_s": [round(c, 2) for c in self.cpu_burst],
            "cpu_burst_driver_s": round(s.cpu, 2), "cpu_burst_pg_s": round(self.cpu_burst_pg, 2),
        })

    def write_trace(self, path):
        """Every attempt, one CSV line: sent (Unix s), delivery, target, server,
        attempt, status or error, latency (ms)."""
        with open(path, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["sent", "delivery", "target", "server", "attempt", "status",
                        "latency_ms"])
            for d in self.deliveries:
                for i, (lat, st, at) in enumerate(d.attempts):
                    w.writerow([f"{at:.6f}", d.k, d.target, d.server, i + 1, st,
                                "" if lat is None else f"{lat * 1000:.3f}"])

    def after_stop(self):
        """What the serve logs say, once the processes have stopped."""
        levels = {}
        for sv in self.serves:
            for k, v in sv.log_levels().items():
                levels[k] = levels.get(k, 0) + v
        self.fig("serve log lines by level", ", ".join(f"{k}: {v}"
                                                       for k, v in sorted(levels.items())))
        self.result["log_levels"] = levels
        self.result["exit_status"] = [sv.rc for sv in self.serves]
        if levels.get("error"):
            self.problems.append(f"{levels['error']} error lines in the serve logs "
                                 f"(serve-*.log)")

    def print_table(self):
        a = self.a
        print(f"pinsync webhook burst: {a.deliveries} deliveries over {a.seconds:g} s to "
              f"{a.targets} targets on {a.workers} serve processes, {os.cpu_count()} CPUs")
        w = max(len(f) for f, _ in self.figures)
        for f, v in self.figures:
            print(f"  {f:<{w}}  {v}")
        sys.stdout.flush()


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="tests/bench/webhook_burst.py",
        description="serve mode under a burst of signed webhooks: latency, coalescing, "
        "deliveries lost, time until every target synced (measured, never asserted)")
    ap.add_argument("--targets", type=int, default=100, help="targets (default 100)")
    ap.add_argument("--deliveries", type=int, default=20000,
                    help="webhook deliveries (default 20000)")
    ap.add_argument("--seconds", type=float, default=10.0,
                    help="over this many seconds at most the rate deliveries/seconds "
                    "(default 10)")
    ap.add_argument("--workers", type=int, default=3,
                    help="pinsync serve processes on the one database (default 3)")
    ap.add_argument("--connections", type=int, default=32,
                    help="sender threads, each with a keep-alive connection per server "
                    "(default 32)")
    ap.add_argument("--items", type=int, default=10, help="items per target's feed (default 10)")
    ap.add_argument("--retries", type=int, default=3,
                    help="attempts again after a 5xx, a connection error or a timeout "
                    "(default 3)")
    ap.add_argument("--timeout", type=float, default=10.0,
                    help="seconds a request may take before it counts as timed out "
                    "(default 10)")
    ap.add_argument("--sync-timeout", type=float, default=600.0,
                    help="seconds to wait for every target to sync after the burst "
                    "(default 600)")
    ap.add_argument("--pg-stats", action="store_true",
                    help="also report the statements that took the server's time during the "
                    "burst (pg_stat_statements)")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--keep", nargs="?", const=True, metavar="DIR",
                    help="keep the work folder (serve logs, feeds, every attempt in "
                    "attempts.csv; in DIR when given)")
    ap.add_argument("--pinsync", help="the binary (default PINSYNC_BIN, else build/)")
    ap.add_argument("--json", help="also write every figure to this file")
    a = ap.parse_args(argv)
    if (a.targets < 1 or a.deliveries < 1 or a.seconds <= 0 or a.workers < 1
            or not 1 <= a.connections <= 240 or a.items < 1 or a.retries < 0
            or a.timeout <= 0):
        ap.error("sizes must be positive (--connections at most 240)")
    if a.pinsync:
        os.environ["PINSYNC_BIN"] = os.path.abspath(a.pinsync)

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    b = Burst(a)
    t0 = time.monotonic()
    ran = False
    try:
        b.start()
        b.burst()
        b.report()
        ran = True
        if a.keep:
            b.write_trace(os.path.join(b.work, "attempts.csv"))
    except BaseException as e:  # noqa: BLE001 - report what ran, stop everything
        if not isinstance(e, KeyboardInterrupt):
            import traceback
            traceback.print_exc()
        b.problems.append(f"{type(e).__name__}: {e}")
    finally:
        b.stop()
    if ran:
        b.after_stop()
        b.print_table()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(b.result, figures=b.figures, problems=b.problems), f, indent=1)
    if a.keep:
        log(f"kept {b.work}")
    else:
        shutil.rmtree(b.work, ignore_errors=True)
    log(f"done in {time.monotonic() - t0:.0f} s")
    for p in b.problems:
        print(f"burst: problem: {p}", file=sys.stderr)
    return 1 if b.problems else 0


if __name__ == "__main__":
    sys.exit(main())
