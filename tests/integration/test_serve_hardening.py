"""Serve mode hardened (issue "Hardening"): it stays up when the database does
not answer, checks signatures before any database work, bounds what one
client can hold, caches the database's part of /metrics, refuses replayed
deliveries, and lets the lease of a run past its deadline run out.

The stalled database comes in two forms: a listener on 127.0.0.1 that accepts
TCP connections and never says a word, and the harness's own PostgreSQL
with every one of its processes stopped (SIGSTOP) and later resumed.
Timings are printed (stderr) so that a CI log shows them.
"""

import ctypes
import json
import os
import re
import resource
import signal
import socket
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_serve import (DEFAULT_SECRET, ServeFixture, http, metric,  # noqa: E402
                        parse_metrics, sign, wait_for)

# The bound on serve's database calls in these tests (PINSYNC_SERVE_DB_TIMEOUT_MS).
DB_TIMEOUT_S = 1.0
# What "at once" means on a busy 2-core machine.
PROMPT_S = 0.5


def timed(fn, *args, **kw):
    t0 = time.monotonic()
    value = fn(*args, **kw)
    return value, time.monotonic() - t0


def note(what, seconds):
    print(f"  timing: {what}: {seconds:.3f} s", file=sys.stderr)


class BlackHole:
    """A 'database' on 127.0.0.1 that accepts TCP connections and never
    answers (nor closes them)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    @property
    def url(self):
        return f"postgresql://pinsync@127.0.0.1:{self.port}/pinsync"

    def close(self):
        self.closed = True
        self.sock.close()
        for c in self.accepted:
            c.close()


def cluster_pids(pg):
    """The postmaster of pg and every process it started."""
    return list(pg.processes())


class Frozen:
    """Every process of the cluster stopped (SIGSTOP) for the with-block:
    connections are accepted by the kernel, nothing is answered."""

    def __init__(self, pg):
        self.pg = pg
        self.pids = []

    def __enter__(self):
        # The postmaster first, so that it starts no process meanwhile; a
        # backend may end between the listing and its signal.
        for pid in cluster_pids(self.pg):
            try:
                os.kill(pid, signal.SIGSTOP)
                self.pids.append(pid)
            except ProcessLookupError:
                pass
        return self

    def thaw(self):
        for pid in reversed(self.pids):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.pids = []

    def __exit__(self, *exc):
        self.thaw()


class Inotify:
    """Opens of the files of a folder (inotify IN_OPEN), through libc."""

    IN_OPEN = 0x20

    def __init__(self, folder):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if self.libc.inotify_add_watch(self.fd, folder.encode(), self.IN_OPEN) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch")

    def opened(self):
        """Names of the files opened since the last call."""
        names = []
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return names
            off = 0
            while off < len(buf):
                _wd, mask, _cookie, length = struct.unpack_from("iIII", buf, off)
                name = buf[off + 16:off + 16 + length].rstrip(b"\0").decode()
                if mask & self.IN_OPEN:
                    names.append(name)
                off += 16 + length

    def close(self):
        os.close(self.fd)


class HardeningFixture(ServeFixture):

    def write_secret(self, name, value):
        path = os.path.join(self.tmp.name, name)
        tmp = path + ".new"
        with open(tmp, "w") as f:
            f.write(value + "\n")
        os.replace(tmp, path)
        return path


class StalledDatabaseTest(HardeningFixture):

    def serve(self, *args, **env):
        env.setdefault("PINSYNC_SERVE_DB_TIMEOUT_MS", str(int(DB_TIMEOUT_S * 1000)))
        return super().serve(*args, **env)

    def test_a_database_that_never_answers(self):
        hole = BlackHole()
        self.addCleanup(hole.close)
        s = self.serve(PINSYNC_DATABASE_URL=hole.url)
        # Liveness is the process alone.
        (st, _), took = timed(s.get, "/healthz")
        note("/healthz, database silent", took)
        self.assertEqual(st, 200)
        self.assertLess(took, PROMPT_S)
        # Readiness: 503 within the bound (at start-up it waits for the
        # heartbeat's first verdict, at most one bound).
        (st, text), took = timed(s.get, "/readyz")
        note("/readyz, database silent (first verdict)", took)
        self.assertEqual((st, text), (503, "database unreachable\n"))
        self.assertLess(took, DB_TIMEOUT_S + 1.5)
        (st, _), took = timed(s.get, "/readyz")
        note("/readyz, database silent (then)", took)
        self.assertEqual(st, 503)
        self.assertLess(took, PROMPT_S)
        self.assertTrue(hole.accepted, "serve never tried the database")
        # Webhooks: unsigned 401, signed 503, both at once.
        (st, _), took = timed(s.hook, "shop", secret=None)
        note("unsigned webhook, database silent", took)
        self.assertEqual(st, 401)
        self.assertLess(took, PROMPT_S)
        (st, text), took = timed(s.hook, "shop")
        note("signed webhook, database silent", took)
        self.assertEqual((st, json.loads(text)), (503, {"error": "database unavailable"}))
        self.assertLess(took, PROMPT_S)
        (st, text), took = timed(s.get, "/metrics")
        note("/metrics, database silent", took)
        self.assertEqual(st, 200)
        self.assertEqual(metric(parse_metrics(text), "pinsync_database_up"), 0)
        self.assertLess(took, DB_TIMEOUT_S + 1.5)
        # SIGTERM: out within a few seconds, status 0.
        t0 = time.monotonic()
        self.assertEqual(s.stop(timeout=15), 0)
        note("SIGTERM to exit, database silent", time.monotonic() - t0)
        self.assertLess(time.monotonic() - t0, 2 * DB_TIMEOUT_S + 2)
        self.assertIn("did not answer within 1.0 s", s.log())

    def test_stopped_server_probes_signatures_stop_and_recovery(self):
        self.add_target("stall")
        own_secret = "own-stall-secret-31415926"
        self.add_target("stallown", webhook_secret_file=self.write_secret("stall.secret",
                                                                          own_secret))
        s = self.serve(PINSYNC_SERVE_WORKERS="0")
        self.assertEqual(s.get("/readyz"), (200, "ready\n"))
        self.assertEqual(s.hook("stall")[0], 202)
        self.assertEqual(s.hook("stallown", secret=own_secret)[0], 202)
        self.pg.psql("DELETE FROM jobs")
        with Frozen(self.pg) as frozen:
            t_frozen = time.monotonic()
            # A signed webhook while the heartbeat still thinks the database
            # is up: answered 503 within the bound; meanwhile /healthz
            # answers at once (it does not wait behind the webhook).
            answer = {}

            def stuck_hook():
                answer["hook"] = timed(s.hook, "stall",
                                       headers={"X-Pinsync-Delivery": "d-stalled"})
            hook = threading.Thread(target=stuck_hook)
            hook.start()
            time.sleep(0.2)
            (st, _), took = timed(s.get, "/healthz")
            note("/healthz while a webhook waits on the stopped server", took)
            self.assertEqual(st, 200)
            self.assertLess(took, PROMPT_S)
            hook.join()
            (st, _), took = answer["hook"]
            note("signed webhook, server just stopped", took)
            self.assertEqual(st, 503)
            self.assertLess(took, 2 * DB_TIMEOUT_S + 1.5)
            # Readiness goes 503 within the bound and a heartbeat period.
            wait_for(lambda: s.get("/readyz")[0] == 503, DB_TIMEOUT_S + 3, "/readyz 503")
            note("server stopped -> /readyz 503", time.monotonic() - t_frozen)
            for path in ("/healthz", "/readyz") * 3:
                (st, _), took = timed(s.get, path)
                self.assertEqual(st, 200 if path == "/healthz" else 503)
                self.assertLess(took, PROMPT_S, path)
            # Badly signed requests: 401 at once, for a target with the
            # default secret, one with its own, and no target at all: no
            # database work (it would wait the whole bound).
            worst = 0
            for target in ("stall", "stallown", "nosuch"):
                for kw in ({"secret": None}, {"secret": "wrong-secret"},
                           {"secret": DEFAULT_SECRET if target == "stallown" else "x"}):
                    (st, _), took = timed(s.hook, target, **kw)
                    self.assertEqual(st, 401, (target, kw))
                    worst = max(worst, took)
            note("slowest of 9 badly signed webhooks, server stopped", worst)
            self.assertLess(worst, PROMPT_S)
            # Correctly signed: 503 at once, now that the heartbeat knows.
            (st, _), took = timed(s.hook, "stallown", secret=own_secret)
            note("signed webhook, server stopped (known down)", took)
            self.assertEqual(st, 503)
            self.assertLess(took, PROMPT_S)
            (st, text), took = timed(s.get, "/metrics")
            self.assertEqual(st, 200)
            self.assertLess(took, DB_TIMEOUT_S + 1.5)
            frozen.thaw()
            t_thawed = time.monotonic()
            wait_for(lambda: s.get("/readyz")[0] == 200, 15, "/readyz 200 after the thaw")
            note("server resumed -> /readyz 200", time.monotonic() - t_thawed)
        # Recovered: webhooks queue again. The request that got 503 may
        # still have been executed when the server resumed (it was sent
        # before the stop): either way, one job, and its retry says so.
        st, text = s.hook("stall", headers={"X-Pinsync-Delivery": "d-stalled"})
        self.assertIn(st, (200, 202), text)
        self.assertEqual(self.pg.psql(
            "SELECT count(*) FROM jobs j JOIN targets t ON t.id = j.target_id"
            " WHERE t.name = 'stall' AND j.state = 'queued'"), [["1"]])
        self.assertEqual(s.hook("stallown", secret=own_secret)[0], 202)
        self.assertIn("the database is back", s.log())
        # SIGTERM while the server is stopped: out within a few seconds.
        with Frozen(self.pg):
            time.sleep(0.2)
            t0 = time.monotonic()
            self.assertEqual(s.stop(timeout=15), 0)
            note("SIGTERM to exit, server stopped", time.monotonic() - t0)
            self.assertLess(time.monotonic() - t0, 2 * DB_TIMEOUT_S + 2)
        self.pg.psql("DELETE FROM jobs")

    def http_statements(self):
        """Statements the server logged for serve's HTTP connection."""
        with open(self.pg.log, encoding="utf-8", errors="replace") as f:
            return sum(1 for line in f if line.startswith("[pinsync serve http] ")
                       and re.search(r"LOG:  (statement|execute)", line))

    def test_badly_signed_webhooks_do_no_database_work_and_read_no_file(self):
        secret = "file-secret-before-27182818"
        path = self.write_secret("watched.secret", secret)
        self.add_target("watched", webhook_secret_file=path)
        self.add_target("watched2")
        # Every statement logged, with the name of the connection that sent it.
        self.pg.psql("ALTER SYSTEM SET log_statement = 'all'")
        self.pg.psql("ALTER SYSTEM SET log_line_prefix = '[%a] '")
        self.pg.psql("SELECT pg_reload_conf()")
        self.addCleanup(lambda: (self.pg.psql("ALTER SYSTEM RESET log_statement"),
                                 self.pg.psql("ALTER SYSTEM RESET log_line_prefix"),
                                 self.pg.psql("SELECT pg_reload_conf()")))
        s = self.serve(PINSYNC_SERVE_WORKERS="0")
        self.assertEqual(s.hook("watched", secret=secret)[0], 202)
        watch = Inotify(self.tmp.name)
        self.addCleanup(watch.close)
        time.sleep(0.5)
        before = self.http_statements()
        self.assertGreater(before, 0)  # the good one above was logged
        for target in ("watched", "watched2", "nosuch"):
            for kw in ({"secret": None}, {"secret": "wrong"},
                       {"secret": DEFAULT_SECRET if target == "watched" else "wrong2"},
                       {"secret": secret, "headers": {"X-Hub-Signature-256": "sha256=00"}},
                       {"timestamp": int(time.time()) - 3600}):
                for _ in range(3):
                    self.assertEqual(s.hook(target, **kw)[0], 401, (target, kw))
        time.sleep(0.5)  # the server's log is written asynchronously
        self.assertEqual(self.http_statements(), before)
        # Good ones do not read the file either: the secret is cached.
        self.assertEqual(s.hook("watched", secret=secret)[0], 202)
        time.sleep(1.5)  # a refresh of the cache or two: the file unchanged
        self.assertEqual([n for n in watch.opened() if n == "watched.secret"], [])
        # Rotated: the heartbeat reads the file once, and the new secret is in
        # force (the old one refused) within a couple of seconds.
        self.write_secret("watched.secret", "file-secret-after-16180339")
        wait_for(lambda: s.hook("watched", secret="file-secret-after-16180339")[0] == 202,
                 5, "the rotated secret to be in force")
        self.assertEqual(s.hook("watched", secret=secret)[0], 401)
        time.sleep(1.5)
        self.assertEqual(watch.opened().count("watched.secret"), 1)
        self.assertIn("(re)loaded", s.log())
        self.assertEqual(s.stop(), 0)
        self.pg.psql("DELETE FROM jobs")


class ConnectionLimitTest(HardeningFixture):

    def test_one_address_cannot_take_the_probes_places(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 1024:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
        s = self.serve(PINSYNC_SERVE_CONN_PER_IP="8")
        # 300 connections from 127.0.0.1, each with a request half sent:
        # more than the whole listener holds (256).
        held = []
        self.addCleanup(lambda: [c.close() for c in held])
        for _ in range(300):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            held.append(c)
            try:
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            except OSError:
                pass  # refused at once: over the limit
        time.sleep(0.5)
        open_ = 0
        for c in held:
            c.setblocking(False)
            try:
                open_ += c.recv(1) != b""
            except BlockingIOError:
                open_ += 1
            except OSError:
                pass
        self.assertLessEqual(open_, 8)
        # The probe from another address gets in at once.
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.bind(("127.0.0.2", 0))
        probe.settimeout(5)
        t0 = time.monotonic()
        probe.connect(("127.0.0.1", s.port))
        probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while True:
            chunk = probe.recv(4096)
            if not chunk:
                break
            answer += chunk
        probe.close()
        note("/healthz from 127.0.0.2 with 300 connections from 127.0.0.1", time.monotonic() - t0)
        self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer[:100])
        self.assertLess(time.monotonic() - t0, PROMPT_S * 2)
        self.assertEqual(s.stop(), 0)

    def test_a_trickled_body_is_cut_off(self):
        s = self.serve(PINSYNC_SERVE_REQUEST_TIMEOUT_S="2")
        c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        self.addCleanup(c.close)
        c.sendall(b"POST /hooks/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        t0 = time.monotonic()
        closed = None
        # One byte every 0.3 s: never idle, never done.
        while time.monotonic() - t0 < 8:
            try:
                c.sendall(b"x")
            except OSError:
                closed = time.monotonic() - t0
                break
            c.setblocking(False)
            try:
                if c.recv(1) == b"":
                    closed = time.monotonic() - t0
                    break
            except BlockingIOError:
                pass
            except OSError:
                closed = time.monotonic() - t0
                break
            c.setblocking(True)
            time.sleep(0.3)
        self.assertIsNotNone(closed, "the trickled request was still open after 8 s")
        note("a trickled webhook body cut off (request timeout 2 s)", closed)
        self.assertLess(closed, 4)
        self.assertEqual(s.get("/healthz")[0], 200)
        self.assertEqual(s.stop(), 0)


class MetricsCacheTest(HardeningFixture):

    def metrics_queries(self):
        with open(self.pg.log, encoding="utf-8", errors="replace") as f:
            return f.read().count("UNION ALL SELECT 15, name")

    def test_a_scrape_loop_costs_one_query_per_interval(self):
        self.add_target("scraped")
        s = self.serve(PINSYNC_SERVE_WORKERS="0", PINSYNC_METRICS_CACHE_S="2")
        self.pg.psql("ALTER SYSTEM SET log_statement = 'all'")
        self.pg.psql("SELECT pg_reload_conf()")
        self.addCleanup(lambda: (self.pg.psql("ALTER SYSTEM RESET log_statement"),
                                 self.pg.psql("SELECT pg_reload_conf()")))
        time.sleep(0.5)
        before = self.metrics_queries()
        scrapes = []
        stop = time.monotonic() + 5

        def loop():
            while time.monotonic() < stop:
                st, text = s.get("/metrics")
                scrapes.append((st, metric(parse_metrics(text), "pinsync_database_up")))
        threads = [threading.Thread(target=loop) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(0.5)  # the server's log is written asynchronously
        queries = self.metrics_queries() - before
        print(f"  metrics: {len(scrapes)} scrapes in 5 s by 4 clients, {queries} database"
              " queries", file=sys.stderr)
        self.assertGreater(len(scrapes), 40)
        self.assertTrue(all(x == (200, 1) for x in scrapes), scrapes[:5])
        self.assertGreaterEqual(queries, 1)
        self.assertLessEqual(queries, 4)  # 5 s / 2 s, +1 for the edges
        # The figures move on after the interval.
        self.assertEqual(s.hook("scraped")[0], 202)
        wait_for(lambda: metric(parse_metrics(s.get("/metrics")[1]),
                                "pinsync_queue_depth") == 1, 5, "the queued job in /metrics")
        self.assertEqual(s.stop(), 0)
        self.pg.psql("DELETE FROM jobs")


class ReplayTest(HardeningFixture):

    def queued(self, target):
        return int(self.pg.psql(
            "SELECT count(*) FROM jobs j JOIN targets t ON t.id = j.target_id"
            f" WHERE t.name = '{target}' AND j.state = 'queued'")[0][0])

    def test_replayed_deliveries_queue_nothing(self):
        self.add_target("replayed")
        s = self.serve(PINSYNC_SERVE_WORKERS="0")
        other = self.serve(PINSYNC_SERVE_WORKERS="0")
        body = b'{"id": 7}'
        for header, style in (("X-Shopify-Webhook-Id", "shopify"),
                              ("X-WC-Webhook-Delivery-ID", "wc"),
                              ("X-Pinsync-Delivery", "hub")):
            delivery = f"{style}-delivery-1"
            st, text = s.hook("replayed", body, style=style, headers={header: delivery})
            self.assertEqual(st, 202, text)
            self.assertTrue(json.loads(text)["queued"])
            self.pg.psql("DELETE FROM jobs")   # so that nothing coalesces
            # The same delivery again, to this process and to another one.
            for srv in (s, other):
                st, text = srv.hook("replayed", body, style=style, headers={header: delivery})
                self.assertEqual((st, json.loads(text)), (200, {"queued": False, "replay": True}))
            self.assertEqual(self.queued("replayed"), 0)
            # Another delivery is queued.
            st, text = s.hook("replayed", body, style=style,
                              headers={header: f"{style}-delivery-2"})
            self.assertEqual((st, json.loads(text)["queued"]), (202, True))
            self.pg.psql("DELETE FROM jobs")
        # Without a delivery id, or with a timestamp alone, nothing is remembered.
        self.assertEqual(s.hook("replayed", body)[0], 202)
        self.assertEqual(s.hook("replayed", body)[0], 202)  # coalesced
        # A malformed id from a correct signer: 400; from anyone else: 401.
        st, _ = s.hook("replayed", body, headers={"X-Pinsync-Delivery": "a b"})
        self.assertEqual(st, 400)
        st, _ = s.hook("replayed", body, secret="wrong", headers={"X-Pinsync-Delivery": "a b"})
        self.assertEqual(st, 401)
        m = parse_metrics(s.get("/metrics")[1])
        self.assertEqual(metric(m, "pinsync_webhooks_total", result="replay"), 3)
        self.assertEqual(metric(m, "pinsync_webhooks_total", result="bad_request"), 1)
        self.assertEqual(metric(parse_metrics(other.get("/metrics")[1]),
                                "pinsync_webhooks_total", result="replay"), 3)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM webhook_deliveries"), [["6"]])
        self.assertEqual(s.stop(), 0)
        self.assertEqual(other.stop(), 0)
        self.pg.psql("DELETE FROM jobs")

    def test_the_window_passes_and_old_ids_are_pruned(self):
        self.add_target("windowed")
        s = self.serve(PINSYNC_SERVE_WORKERS="0", PINSYNC_WEBHOOK_TOLERANCE_S="2")
        h = {"X-Shopify-Webhook-Id": "windowed-1"}
        self.assertEqual(s.hook("windowed", style="shopify", headers=h)[0], 202)
        self.pg.psql("DELETE FROM jobs")
        self.assertEqual(s.hook("windowed", style="shopify", headers=h)[0], 200)
        time.sleep(2.5)
        # Past the window: a new delivery as far as pinsync can tell.
        self.assertEqual(s.hook("windowed", style="shopify", headers=h)[0], 202)
        self.pg.psql("DELETE FROM jobs")
        # And the heartbeat forgets it once the window has passed again.
        wait_for(lambda: self.pg.psql(
            "SELECT count(*) FROM webhook_deliveries d JOIN targets t ON t.id = d.target_id"
            " WHERE t.name = 'windowed'") == [["0"]], 10, "the delivery id to be pruned")
        self.assertEqual(s.stop(), 0)


class DeadlineTest(HardeningFixture):

    def lease(self, job):
        return self.pg.psql(f"SELECT extract(epoch FROM lease_until), lease_until < now()"
                            f" FROM jobs WHERE id = {job}")[0]

    def test_lease_of_a_run_past_its_deadline_runs_out(self):
        self.add_target("overdue", nitems=3)
        # A slow sync: its batch stays PROCESSING for many slow polls.
        self.sim.config(processing_polls=80, delay_ms=100)
        s = self.serve(PINSYNC_JOB_LEASE_S="3", PINSYNC_RUN_DEADLINE_S="60",
                       PINSYNC_RUN_DEADLINE_GRACE_S="30")
        self.assertEqual(s.hook("overdue")[0], 202)
        wait_for(lambda: any(r[2] == "running" for r in self.jobs("overdue")), 10,
                 "the job to run")
        job = self.jobs("overdue")[0][0]
        # Within its deadline: renewed every second (a third of the lease).
        first = float(self.lease(job)[0])
        wait_for(lambda: float(self.lease(job)[0]) > first, 5, "a renewal")
        # Claimed 91 s ago, as far as the database can tell: past 60 + 30.
        self.pg.psql(f"UPDATE jobs SET started_at = now() - interval '91 seconds'"
                     f" WHERE id = {job}")
        time.sleep(2)
        frozen_at = float(self.lease(job)[0])
        wait_for(lambda: self.lease(job)[1] == "t", 5, "the lease to run out")
        self.assertEqual(float(self.lease(job)[0]), frozen_at)
        self.assertEqual(self.jobs("overdue")[0][2], "running")
        lines = [json.loads(x) for x in s.log().splitlines()]
        why = [x["msg"] for x in lines if "past its deadline" in x["msg"]]
        self.assertEqual(len(why), 1, why)
        self.assertRegex(why[0], r"job %s: its run has gone on for 9\d s, past its deadline"
                         r" \(PINSYNC_RUN_DEADLINE_S=60\) and grace" % job)
        s.kill()
        self.sim.config(processing_polls=1, delay_ms=0)
        self.pg.psql("DELETE FROM jobs")


if __name__ == "__main__":
    unittest.main()
