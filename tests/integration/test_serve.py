"""Serve mode (issue "Serve mode and operations"): webhooks, the queue, metrics,
health, signals, configuration and the log, against a real PostgreSQL, the
simulator and `pinsync serve` processes on 127.0.0.1.

The helpers here (Serve, sign, ...) are also used by test_serve_scale.py.
"""

import base64
import concurrent.futures
import csv
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import PgCluster, Pinsync, Simulator, free_port, parse_metrics  # noqa: E402

COLUMNS = ["id", "title", "description", "link", "image_link", "price", "availability"]
DEFAULT_SECRET = "default-webhook-secret-0123456789"


def make_items(prefix, n):
    return [{"id": f"{prefix}-{i:03d}", "title": f"Item {i}", "description": f"About {i}",
             "link": f"https://shop.example/{prefix}/{i}",
             "image_link": f"https://shop.example/{prefix}/{i}.jpg",
             "price": f"{10 + i}.00 USD", "availability": "in stock"} for i in range(n)]


def write_csv(path, items):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        for it in items:
            w.writerow(it)


def sign(secret, body, style="hub", timestamp=None):
    """The headers a store would send: HMAC-SHA256 over the body, or over
    "TIMESTAMP.BODY" with X-Pinsync-Timestamp."""
    payload = (f"{timestamp}.".encode() + body) if timestamp is not None else body
    mac = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    if style == "hub":
        headers = {"X-Hub-Signature-256": "sha256=" + mac.hex()}
    elif style == "shopify":
        headers = {"X-Shopify-Hmac-Sha256": base64.b64encode(mac).decode()}
    else:
        headers = {"X-WC-Webhook-Signature": base64.b64encode(mac).decode()}
    if timestamp is not None:
        headers["X-Pinsync-Timestamp"] = str(timestamp)
    return headers


def http(port, method, path, body=None, headers=None, timeout=15):
    """(status, text) of one request to 127.0.0.1:port."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(cond, timeout, what, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Serve:
    """One `pinsync serve` process on a free port of 127.0.0.1; its log
    (stderr, JSON lines) goes to a file kept for the secrets check."""

    all_logs = []

    def __init__(self, ps, args=(), **env):
        self.port = free_port()
        self.env = dict(ps.env)
        self.env.update(env)
        self.dir = tempfile.mkdtemp(prefix="pinsync-serve-")
        self.log_path = os.path.join(self.dir, "serve.log")
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [ps.bin, "serve", "--listen", f"127.0.0.1:{self.port}"] + list(args),
            env=self.env, stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf)
        Serve.all_logs.append(self)
        wait_for(self._alive, 15, "pinsync serve to answer /healthz")

    def _alive(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"pinsync serve exited {self.proc.returncode}:\n{self.log()}")
        try:
            return http(self.port, "GET", "/healthz", timeout=2)[0] == 200
        except OSError:
            return False

    def get(self, path):
        return http(self.port, "GET", path)

    def hook(self, target, body=b'{"event":"product.updated"}', secret=DEFAULT_SECRET,
             style="hub", timestamp=None, headers=None):
        h = sign(secret, body, style, timestamp) if secret else {}
        h.update(headers or {})
        h.setdefault("Content-Type", "application/json")
        return http(self.port, "POST", f"/hooks/{target}", body, h)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout)
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log(self):
        self.logf.flush()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def cleanup(self):
        self.kill()
        self.logf.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


class ServeFixture(unittest.TestCase):
    """A cluster, a simulator and the tokens, shared by a test class."""

    sim_args = ("--processing-polls", "1")

    @classmethod
    def setUpClass(cls):
        cls.pg = PgCluster().start()
        cls.sim = Simulator(*cls.sim_args)
        cls.tmp = tempfile.TemporaryDirectory(prefix="pinsync-serve-test-")
        cls.ps = Pinsync(cls.pg, cls.sim, PINSYNC_WEBHOOK_SECRET=DEFAULT_SECRET,
                         PINSYNC_SERVE_POLL_MS="100")
        cls.ps.run("migrate", check=0)
        cls.ps.run("auth", "set", "--access-token", Simulator.ACCESS_TOKEN,
                   "--refresh-token", Simulator.REFRESH_TOKEN, "--expires-in", "86400",
                   check=0)
        cls.catalogs = 3000

    @classmethod
    def tearDownClass(cls):
        for s in Serve.all_logs:
            s.cleanup()
        Serve.all_logs.clear()
        cls.sim.stop()
        cls.pg.destroy()
        cls.tmp.cleanup()

    def setUp(self):
        self.sim.config(processing_polls=1, delay_ms=0)
        self.serves = []

    def tearDown(self):
        for s in self.serves:
            s.kill()

    def serve(self, *args, **env):
        s = Serve(self.ps, args, **env)
        self.serves.append(s)
        return s

    def add_target(self, name, nitems=3, **opts):
        """A target with its own CSV feed and its own simulator catalog."""
        type(self).catalogs += 1
        catalog = str(self.catalogs)
        self.sim.add_catalog(catalog)
        path = os.path.join(self.tmp.name, f"{name}.csv")
        items = make_items(name, nitems)
        write_csv(path, items)
        self.ps.run("target", "add", name, "--feed", path, "--catalog-id", catalog,
                    "--country", "US", "--language", "en-US", check=0)
        for k, v in opts.items():
            self.ps.run("target", "set", name, "--" + k.replace("_", "-"), v, check=0)
        return catalog, items

    def synced(self, catalog, items):
        return sorted(self.sim.catalog(catalog)) == sorted(it["id"] for it in items)

    def jobs(self, target):
        return self.pg.psql(
            "SELECT j.id, j.trigger, j.state, coalesce(j.worker, ''), j.attempts,"
            " coalesce(j.error, '') FROM jobs j JOIN targets t ON t.id = j.target_id"
            f" WHERE t.name = '{target}' ORDER BY j.id")

    def wait_jobs_finished(self, target, timeout=30):
        def done():
            rows = self.jobs(target)
            return rows and all(r[2] in ("done", "failed") for r in rows)
        wait_for(done, timeout, f"the jobs of {target} to finish")
        return self.jobs(target)


class WebhookTest(ServeFixture):

    def test_signed_webhooks_sync_in_every_style(self):
        secret_file = os.path.join(self.tmp.name, "own.secret")
        with open(secret_file, "w") as f:
            f.write("own-target-secret-abcdef987654\n")
        hub = self.add_target("hub")
        shopify = self.add_target("shopify")
        wc = self.add_target("wc", webhook_secret_file=secret_file)
        s = self.serve()
        self.assertEqual(s.hook("hub")[0], 202)
        self.assertEqual(s.hook("shopify", style="shopify")[0], 202)
        st, body = s.hook("wc", style="wc", secret="own-target-secret-abcdef987654",
                          timestamp=int(time.time()))
        self.assertEqual(st, 202, body)
        self.assertTrue(json.loads(body)["queued"])
        for name, (catalog, items) in (("hub", hub), ("shopify", shopify), ("wc", wc)):
            wait_for(lambda: self.synced(catalog, items), 20, f"{name} in the simulator")
            rows = self.wait_jobs_finished(name)
            self.assertEqual([(r[1], r[2]) for r in rows], [("webhook", "done")])
        runs = self.pg.psql("SELECT DISTINCT trigger FROM runs r JOIN targets t"
                            " ON t.id = r.target_id WHERE t.name IN ('hub', 'shopify', 'wc')")
        self.assertEqual(runs, [["webhook"]])
        # The job is linked to the run it made.
        self.assertEqual(self.pg.psql(
            "SELECT count(*) FROM jobs j JOIN runs r ON r.id = j.run_id"
            " JOIN targets t ON t.id = j.target_id WHERE t.name = 'hub'"), [["1"]])
        self.assertEqual(s.stop(), 0)

    def test_bad_missing_and_replayed_signatures_queue_nothing(self):
        secret_file = os.path.join(self.tmp.name, "strict.secret")
        with open(secret_file, "w") as f:
            f.write("strict-target-secret-1234567890")
        self.add_target("plain")
        self.add_target("strict", webhook_secret_file=secret_file)
        s = self.serve(PINSYNC_SERVE_WORKERS="0", PINSYNC_WEBHOOK_TOLERANCE_S="60")
        body = b'{"id": 1}'
        now = int(time.time())
        unauthorized = []
        for target in ("plain", "strict", "no-such-target", "bad/name", "a" * 80):
            unauthorized += [
                s.hook(target, body, secret=None),                          # unsigned
                s.hook(target, body, secret="wrong-secret-value"),          # wrong key
                s.hook(target, body, headers={"X-Hub-Signature-256": "sha256=zz"}),
                s.hook(target, body, secret=None,
                       headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}),
                s.hook(target, body, secret=None,
                       headers={"X-Shopify-Hmac-Sha256": "not base64!"}),
                s.hook(target, body, style="wc", secret="wrong-secret-value"),
            ]
        # A signed request replayed after the window, or with the time
        # header changed or removed (the time is part of what is signed).
        old = sign(DEFAULT_SECRET, body, timestamp=now - 3600)
        unauthorized.append(s.hook("plain", body, secret=None, headers=old))
        moved = dict(sign(DEFAULT_SECRET, body, timestamp=now - 3600),
                     **{"X-Pinsync-Timestamp": str(now)})
        unauthorized.append(s.hook("plain", body, secret=None, headers=moved))
        stripped = sign(DEFAULT_SECRET, body, timestamp=now)
        del stripped["X-Pinsync-Timestamp"]
        unauthorized.append(s.hook("plain", body, secret=None, headers=stripped))
        unauthorized.append(s.hook("plain", body, timestamp=now + 3600))   # from the future
        unauthorized.append(s.hook("plain", body, timestamp="12abc"))
        # The body changed on the way.
        h = sign(DEFAULT_SECRET, body)
        unauthorized.append(s.hook("plain", body + b" ", secret=None, headers=h))
        # A target with its own secret refuses the default one.
        unauthorized.append(s.hook("strict", body))
        for st, text in unauthorized:
            self.assertEqual(st, 401)
            # The same answer whether the target exists or not.
            self.assertEqual(text, unauthorized[0][1])
        self.assertEqual(self.pg.psql("SELECT count(*) FROM jobs"), [["0"]])

        # Correctly signed with the default secret: 404 for a name that is no
        # target (only such a caller learns it).
        st, _ = s.hook("no-such-target", body)
        self.assertEqual(st, 404)
        # Wrong methods and paths.
        self.assertEqual(http(s.port, "GET", "/hooks/plain")[0], 405)
        self.assertEqual(s.get("/nothing")[0], 404)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM jobs"), [["0"]])
        # A fresh timestamp within the window is fine.
        self.assertEqual(s.hook("plain", body, timestamp=now)[0], 202)
        self.assertEqual(s.hook("strict", body, secret="strict-target-secret-1234567890",
                                style="shopify")[0], 202)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM jobs WHERE state = 'queued'"),
                         [["2"]])
        m = parse_metrics(s.get("/metrics")[1])
        self.assertEqual(metric(m, "pinsync_webhooks_total", result="unauthorized"),
                         len(unauthorized))
        self.assertEqual(metric(m, "pinsync_webhooks_total", result="not_found"), 1)
        self.assertEqual(s.stop(), 0)
        self.pg.psql("DELETE FROM jobs")

    def test_body_over_the_cap_is_refused(self):
        self.add_target("capped")
        s = self.serve(PINSYNC_SERVE_WORKERS="0", PINSYNC_WEBHOOK_MAX_BYTES="1000")
        st, _ = s.hook("capped", b"x" * 1001)
        self.assertEqual(st, 413)
        self.assertEqual(s.hook("capped", b"x" * 1000)[0], 202)
        self.assertEqual(self.pg.psql(
            "SELECT count(*) FROM jobs j JOIN targets t ON t.id = j.target_id"
            " WHERE t.name = 'capped'"), [["1"]])
        self.assertEqual(s.stop(), 0)
        self.pg.psql("DELETE FROM jobs")

    def test_burst_of_100_coalesces(self):
        catalog, items = self.add_target("burst")
        # HTTP only: the 100 requests leave exactly one queued job.
        s = self.serve(PINSYNC_SERVE_WORKERS="0")
        with concurrent.futures.ThreadPoolExecutor(10) as ex:
            answers = list(ex.map(lambda _: s.hook("burst"), range(100)))
        self.assertTrue(all(st == 202 for st, _ in answers), answers[:3])
        queued = [json.loads(b) for _, b in answers if json.loads(b)["queued"]]
        self.assertEqual(len(queued), 1)
        self.assertEqual(len(self.jobs("burst")), 1)
        self.assertEqual(s.stop(), 0)

        # With a worker and a slow sync: at most one running plus one queued.
        self.pg.psql("DELETE FROM jobs")
        self.sim.config(delay_ms=150, processing_polls=3)
        s = self.serve()
        self.assertEqual(s.hook("burst")[0], 202)
        wait_for(lambda: any(r[2] == "running" for r in self.jobs("burst")), 10,
                 "the first job to run")
        with concurrent.futures.ThreadPoolExecutor(10) as ex:
            answers = list(ex.map(lambda _: s.hook("burst"), range(100)))
        self.assertTrue(all(st == 202 for st, _ in answers))
        self.assertLessEqual(len(self.jobs("burst")), 2)
        rows = self.wait_jobs_finished("burst", 30)
        self.assertLessEqual(len(rows), 2)
        self.assertEqual({r[2] for r in rows}, {"done"})
        self.assertTrue(self.synced(catalog, items))
        self.assertEqual(s.stop(), 0)


class OperationsTest(ServeFixture):

    def test_metrics_count_a_known_run_and_pass_promtool(self):
        catalog, items = self.add_target("metered", nitems=5)
        s = self.serve()
        self.assertEqual(s.hook("metered")[0], 202)
        wait_for(lambda: self.synced(catalog, items), 20, "the sync")
        self.wait_jobs_finished("metered")
        st, text = s.get("/metrics")
        self.assertEqual(st, 200)
        m = parse_metrics(text)
        self.assertEqual(metric(m, "pinsync_runs_total", target="metered", outcome="ok"), 1)
        # New items of a catalog without a feed data source go out as UPSERT.
        self.assertEqual(metric(m, "pinsync_items_total", target="metered",
                                operation="upsert", result="success"), 5)
        self.assertEqual(metric(m, "pinsync_items_pending", target="metered"), 0)
        self.assertEqual(metric(m, "pinsync_drift_items", target="metered"), 0)
        self.assertEqual(metric(m, "pinsync_feed_items_parsed_total", target="metered"), 5)
        self.assertGreater(metric(m, "pinsync_feed_bytes_total", target="metered"), 100)
        self.assertEqual(metric(m, "pinsync_batches_total", target="metered",
                                state="completed"), 1)
        self.assertEqual(metric(m, "pinsync_batches_in_flight", target="metered"), 0)
        self.assertEqual(metric(m, "pinsync_runs_running", target="metered"), 0)
        self.assertEqual(metric(m, "pinsync_queue_depth"), 0)
        self.assertGreaterEqual(metric(m, "pinsync_jobs", state="done"), 1)
        self.assertEqual(metric(m, "pinsync_database_up"), 1)
        self.assertEqual(metric(m, "pinsync_jobs_run_total", state="done"), 1)
        self.assertEqual(metric(m, "pinsync_webhooks_total", result="queued"), 1)
        # One POST of the batch and at least one poll, all answered 200.
        self.assertGreaterEqual(metric(m, "pinsync_api_requests_total", status="200"), 2)
        self.assertEqual(metric(m, "pinsync_api_rate_limited_total"), 0)
        last = metric(m, "pinsync_last_success_timestamp_seconds", target="metered")
        self.assertLess(abs(last - time.time()), 120)
        promtool = shutil.which("promtool")
        if promtool is None:
            self.skipTest("promtool is not installed (Debian package prometheus)")
        p = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertEqual((p.returncode, p.stdout), (0, ""))
        self.assertEqual(s.stop(), 0)

    def test_scheduled_reconcile_repairs_drift(self):
        """PINSYNC_RECONCILE_EVERY_S: serve reads every item back on a schedule
        of its own and repairs what was changed on Pinterest behind its back."""
        catalog, items = self.add_target("drifting", nitems=4)
        self.ps.run("run", "drifting", check=0)
        first, second = items[0]["id"], items[1]["id"]
        self.sim.edit_catalog(catalog, delete=[first], set={second: {"price": "0.01 USD"}})
        self.serve(PINSYNC_RECONCILE_EVERY_S="3600")

        def repaired():
            cat = self.sim.catalog(catalog)
            return first in cat and cat[second]["attributes"]["price"] == items[1]["price"]
        wait_for(repaired, 30, "the scheduled reconcile to repair the catalog")
        rows = self.pg.psql(
            "SELECT j.trigger, j.state, j.exit_code FROM jobs j JOIN targets t"
            " ON t.id = j.target_id WHERE t.name = 'drifting' ORDER BY j.id")
        self.assertEqual(rows, [["reconcile", "done", "10"]])
        # Once an hour: the next tick queues nothing more.
        time.sleep(1)
        self.assertEqual(len(self.jobs("drifting")), 1)

    def test_health_and_readiness(self):
        s = self.serve()
        self.assertEqual(s.get("/healthz"), (200, "ok\n"))
        self.assertEqual(s.get("/readyz"), (200, "ready\n"))
        self.assertEqual(s.stop(), 0)
        # A database that is not migrated, and one that cannot be reached.
        self.pg.psql("CREATE DATABASE empty")
        url = self.pg.url.rsplit("/", 1)[0] + "/empty"
        s = self.serve(PINSYNC_DATABASE_URL=url)
        self.assertEqual(s.get("/healthz")[0], 200)
        self.assertEqual(s.get("/readyz"), (503, "database not migrated\n"))
        m = parse_metrics(s.get("/metrics")[1])
        self.assertEqual(metric(m, "pinsync_database_up"), 0)
        self.assertEqual(s.stop(), 0)
        s = self.serve(PINSYNC_DATABASE_URL=f"postgresql://pinsync@127.0.0.1:{free_port()}/x")
        self.assertEqual(s.get("/readyz"), (503, "database unreachable\n"))
        self.assertEqual(s.stop(), 0)

    def test_sigterm_when_idle_exits_promptly(self):
        s = self.serve()
        t0 = time.time()
        self.assertEqual(s.stop(signal.SIGTERM), 0)
        self.assertLess(time.time() - t0, 3)
        s = self.serve()
        self.assertEqual(s.stop(signal.SIGINT), 0)

    def test_sigterm_during_a_job_finishes_it(self):
        catalog, items = self.add_target("draining", nitems=4)
        self.sim.config(delay_ms=100, processing_polls=15)
        s = self.serve()
        self.assertEqual(s.hook("draining")[0], 202)
        wait_for(lambda: any(r[2] == "running" for r in self.jobs("draining")), 10,
                 "the job to run")
        time.sleep(0.5)
        s.proc.send_signal(signal.SIGTERM)
        # Draining: no longer ready, still answering (the signal is handled
        # asynchronously, so give it a moment under load).
        wait_for(lambda: s.get("/readyz")[0] == 503, 5, "/readyz to answer 503")
        self.assertEqual(s.proc.wait(30), 0)
        self.assertEqual([r[2] for r in self.jobs("draining")], ["done"])
        self.assertTrue(self.synced(catalog, items))
        self.assertEqual(self.pg.psql(
            "SELECT r.outcome FROM runs r JOIN targets t ON t.id = r.target_id"
            " WHERE t.name = 'draining'"), [["ok"]])
        self.assertIn("serve: stopped", s.log())

    def test_config_file_below_environment(self):
        conf = os.path.join(self.tmp.name, "pinsync.conf")
        secret_path = os.path.join(self.tmp.name, "conf.secret")
        with open(secret_path, "w") as f:
            f.write("secret-from-a-file-5551234\n")
        port = free_port()
        with open(conf, "w") as f:
            f.write("# pinsync settings\n"
                    f"listen = 127.0.0.1:{port}\n"
                    "job_lease_s = 42\n"
                    "max_retry_s = 7\n"
                    f"webhook_secret_file = {secret_path}\n")
        out = self.ps.run("config", check=0).stdout
        self.assertRegex(out, r"job_lease_s\s+= 60 .*from default")
        ps = Pinsync(self.pg, self.sim, PINSYNC_CONFIG=conf, PINSYNC_MAX_RETRY_S="9")
        out = ps.run("config", check=0).stdout
        self.assertRegex(out, r"job_lease_s\s+= 42 .*from file")
        self.assertRegex(out, r"max_retry_s\s+= 9 .*from env")   # the environment wins
        self.assertRegex(out, r"webhook_secret\s+= \[redacted\].*from file")
        self.assertNotIn("secret-from-a-file-5551234", out)
        # serve --config: the listener and the secret come from the file.
        s = Serve(Pinsync(self.pg, self.sim), ("--config", conf))
        self.serves.append(s)
        self.add_target("configured")
        # (Serve listens where --listen says, which wins over the file.)
        self.assertEqual(s.hook("configured", secret="secret-from-a-file-5551234")[0], 202)
        self.assertEqual(s.stop(), 0)
        with open(conf, "a") as f:
            f.write("no_such_setting = 1\n")
        r = ps.run("config", check=2)
        self.assertIn("pinsync.conf:6", r.stderr)

    def test_zlogs_are_json_with_context_and_hold_no_secret(self):
        """Runs last (name): every serve log of this class is checked too."""
        secret_file = os.path.join(self.tmp.name, "logged.secret")
        with open(secret_file, "w") as f:
            f.write("per-target-webhook-secret-777")
        catalog, items = self.add_target("logged", webhook_secret_file=secret_file)
        # A short-lived access token: the run refreshes it (rotating both).
        self.ps.run("auth", "set", "--access-token", Simulator.ACCESS_TOKEN,
                    "--refresh-token", Simulator.REFRESH_TOKEN, "--expires-in", "1", check=0)
        time.sleep(1.1)
        s = self.serve(PINSYNC_LOG_LEVEL="debug")
        self.assertEqual(s.hook("logged", secret="per-target-webhook-secret-777")[0], 202)
        self.assertEqual(s.hook("logged", secret="wrong-secret-abc")[0], 401)
        wait_for(lambda: self.synced(catalog, items), 20, "the sync")
        self.wait_jobs_finished("logged")
        self.assertEqual(s.stop(), 0)
        tokens = self.sim.tokens()
        secrets = [Simulator.CLIENT_SECRET, Simulator.ACCESS_TOKEN, Simulator.REFRESH_TOKEN,
                   tokens["access_token"], tokens["refresh_token"], DEFAULT_SECRET,
                   "per-target-webhook-secret-777", "own-target-secret-abcdef987654",
                   "strict-target-secret-1234567890", "secret-from-a-file-5551234"]
        self.assertNotEqual(tokens["access_token"], Simulator.ACCESS_TOKEN)  # it rotated
        for srv in Serve.all_logs:
            text = srv.log()
            for secret in secrets:
                self.assertNotIn(secret, text)
        lines = [json.loads(line) for line in s.log().splitlines()]
        job_lines = [x for x in lines if x["msg"].startswith("job ")]
        self.assertTrue(job_lines and all(x.get("target") == "logged" for x in job_lines))
        run_lines = [x for x in lines if x["msg"].startswith("run ok")]
        self.assertEqual(len(run_lines), 1)
        self.assertIn("run_id", run_lines[0])
        self.assertTrue(any("batch_id" in x for x in lines))


if __name__ == "__main__":
    unittest.main()
