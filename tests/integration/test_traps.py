"""Issue "Hardening": operator traps, log forgery, duplicates, run deadline.

Each test names the finding it covers; each failed before the change that
fixed it (the commit says how it was seen failing) and passes now:

- a run has a deadline (PINSYNC_RUN_DEADLINE_S) and stops past it exactly as
  for SIGTERM, also while it polls a batch or waits to retry;
- values from outside (a webhook's target name, a feed's path, a status
  Pinterest sent) cannot write a line of their own into the text log;
- the config file honours inline "# comments" and says which line is bad;
- relative paths given to target add/set are stored absolute;
- a token lookup names the client id it looked for and how to set it; a
  database failure there is exit 4;
- tokens on the command line and passwords inside feed URLs draw a warning
  naming the file forms, and a feed password with a file is not stored;
- the first VALID occurrence of an id wins, in either order.
"""

import base64
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from harness import Pinsync, Simulator, SyncCase  # noqa: E402
from test_sync import assert_converged, make_item, write_csv  # noqa: E402

# What a forged log line would look like: the text log's own format.
FORGED = "07:03:00 info  [shop run 99] run ok"


def forged_lines(log):
    """Lines of a text log that start with the forged text."""
    return [line for line in log.splitlines() if line.startswith("07:03:00")]


class FeedServer:
    """An HTTP feed behind basic auth (user shop, password PASSWORD)."""

    USER, PASSWORD = "shop", "feed-pw-7f3a91"

    def __init__(self, path):
        want = "Basic " + base64.b64encode(
            f"{self.USER}:{self.PASSWORD}".encode()).decode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.headers.get("Authorization") != want:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with open(path, "rb") as f:
                    body = f.read()
                self.send_response(200)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, password=True):
        cred = f"{self.USER}:{self.PASSWORD}" if password else self.USER
        return f"http://{cred}@127.0.0.1:{self.port}/feed.csv"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class TrapsTest(SyncCase):
    SIM_ARGS = ("--processing-polls", "1")
    n = 0

    def setUp(self):
        self.sim.config(fail_items={}, processing_polls=1, delay_ms=0, fail_next=[],
                        item_status={})
        self.sim.clear_requests()

    def new_target(self, items, sync=True, **env):
        """A target on a catalog of its own (synced once unless sync=False)."""
        type(self).n += 1
        name, catalog = f"t{self.n}", str(8000 + self.n)
        self.sim.add_catalog(catalog)
        path = os.path.join(self.tmp.name, f"{name}.csv")
        write_csv(path, items)
        self.ps.run("target", "add", name, "--feed", path, "--catalog-id", catalog,
                    "--country", "US", "--language", "en-US", check=0)
        if sync:
            self.ps.run("run", name, check=0)
        self.sim.clear_requests()
        return name, path, catalog

    def sent(self):
        return sorted((it["operation"], it["item_id"])
                      for body in self.sim.batch_posts() for it in body["items"])

    def with_env(self, **env):
        return Pinsync(self.pg, self.sim, **env)

    def target_row(self, name, column):
        return self.pg.psql(f"SELECT {column} FROM targets WHERE name = '{name}'")[0][0]

    # -- 1. a deadline per run -----------------------------------------------------------

    def test_deadline_stops_a_run_waiting_for_batches(self):
        """Finding: no run has a deadline. A batch that stays PROCESSING kept the run
        polling until PINSYNC_POLL_TIMEOUT_S; now PINSYNC_RUN_DEADLINE_S stops it as
        SIGTERM does: exit 8, outcome interrupted, the batch left in the journal for
        the next run, which converges."""
        items = [make_item(i) for i in range(30)]
        name, path, catalog = self.new_target(items)
        for it in items:
            it["price"] = "7.77 USD"
        write_csv(path, items)
        self.sim.config(processing_polls=100000)
        start = time.time()
        r = self.with_env(PINSYNC_RUN_DEADLINE_S="3", PINSYNC_POLL_TIMEOUT_S="40").run(
            "run", name, timeout=120)
        took = time.time() - start
        self.assertEqual(r.returncode, 8, r.stdout + r.stderr)
        self.assertLess(took, 25, "the deadline did not stop the polling")
        self.assertIn("the run's deadline passed (PINSYNC_RUN_DEADLINE_S = 3 s)", r.stdout)
        self.assertRegex(self.ps.run("status", name, check=0).stdout,
                         rf"\b{name}\s+\S+ \S+\s+interrupted")
        # The batch sent stays in the journal, in flight: the next run finishes it.
        self.assertEqual(len(self.sim.batch_posts()), 1)
        self.assertEqual(self.pg.psql(
            "SELECT b.state FROM batches b JOIN targets t ON t.id = b.target_id"
            f" WHERE t.name = '{name}' AND b.state IN ('planned', 'sent')"), [["sent"]])
        self.sim.config(processing_polls=1)
        for b in self.sim._call("GET", "/_sim/batches"):
            if b["status"] == "PROCESSING":
                self.sim._call("POST", "/_sim/batches/finish", {"batch_id": b["batch_id"]})
        self.ps.run("run", name, check=0)
        assert_converged(self, name, catalog, items)

    def test_deadline_cuts_retry_waits(self):
        """Finding: no run has a deadline, also while it waits to retry: every batch
        POST answered 503 kept the run retrying for PINSYNC_MAX_RETRY_S; now the
        deadline ends the wait, nothing more is sent, exit 8."""
        items = [make_item(i) for i in range(5)]
        name, path, catalog = self.new_target(items)
        for it in items:
            it["price"] = "8.88 USD"
        write_csv(path, items)
        self.sim.config(fail_next=[{"path_prefix": "/v5/catalogs/items/batch",
                                    "method": "POST", "status": 503, "count": 10000}])
        start = time.time()
        r = self.with_env(PINSYNC_RUN_DEADLINE_S="3", PINSYNC_MAX_RETRY_S="60").run(
            "run", name, timeout=180)
        took = time.time() - start
        self.assertEqual(r.returncode, 8, r.stdout + r.stderr)
        self.assertLess(took, 30, "the deadline did not cut the retry waits")
        self.assertIn("deadline passed (PINSYNC_RUN_DEADLINE_S = 3 s)", r.stdout)
        self.assertIn("stopped while waiting to retry", r.stdout)
        self.sim.config(fail_next=[])
        self.ps.run("run", name, check=0)
        assert_converged(self, name, catalog, items)

    # -- 4. logs that cannot be forged ---------------------------------------------------

    def serve_log_for_forged_hook(self, fmt):
        """The log of a serve session (format fmt) sent the forging target name."""
        from test_serve import DEFAULT_SECRET, Serve  # noqa: E402
        ps = self.with_env(PINSYNC_LOG_FORMAT=fmt, PINSYNC_WEBHOOK_SECRET=DEFAULT_SECRET,
                           PINSYNC_SERVE_WORKERS="0")
        s = Serve(ps)
        try:
            # LF, then CR, ESC and CSI as a C1 control (U+009B, which some
            # terminals act on as ESC [).
            quoted = "x%0a" + FORGED.replace(" ", "%20") + "%0d%1b[31m%c2%9b2J"
            self.assertEqual(s.hook(quoted, secret=None)[0], 401)
            self.assertEqual(s.hook(quoted)[0], 404)
            self.assertEqual(s.stop(), 0)
            return s.log()
        finally:
            s.cleanup()

    def test_webhook_target_name_cannot_forge_a_log_line(self):
        """Finding: the target name from the URL is logged raw:
        /hooks/x%0a07:03:00 info [shop run 99] run ok wrote a false line."""
        log = self.serve_log_for_forged_hook("text")
        self.assertIn("\\n" + FORGED, log)
        self.assertEqual(forged_lines(log), [], log)
        self.assertNotIn("\x1b", log)
        self.assertNotIn("\r", log)
        self.assertNotIn("\x9b", log)
        self.assertIn("\\xc2\\x9b2J", log)

    def test_webhook_target_name_cannot_forge_a_json_log_line(self):
        """The same in JSON lines: every line one valid object, the control characters
        escaped as JSON asks (\\n, \\r, \\u001b, \\u009b), no line of the forged text's own."""
        log = self.serve_log_for_forged_hook("json")
        self.assertNotIn("\x1b", log)
        self.assertNotIn("\r", log)
        self.assertNotIn("\x9b", log)
        self.assertIn("\\u001b[31m\\u009b2J", log)
        seen = False
        for line in log.splitlines():
            rec = json.loads(line)  # every line one object
            self.assertNotEqual(rec.get("run_id"), 99, line)
            self.assertFalse(str(rec.get("msg", "")).startswith("07:03:00"), line)
            # The name arrives whole, its newline a character of a value.
            seen = seen or any("\n" + FORGED in str(v) for v in rec.values())
        self.assertTrue(seen, "the target name is not in the JSON log:\n" + log)

    def test_feed_path_and_pinterest_status_cannot_forge_a_log_line(self):
        """Finding: values from outside went raw into the text log: a feed's path
        (target add's warning, the run's error) and a status Pinterest sent."""
        ps = self.with_env(PINSYNC_LOG_FORMAT="text")
        d = tempfile.mkdtemp(dir=self.tmp.name)
        path = os.path.join(d, "feed\n" + FORGED + "\x1b[2J.csv")
        type(self).n += 1
        name, catalog = f"t{self.n}", str(8000 + self.n)
        self.sim.add_catalog(catalog)
        add = ps.run("target", "add", name, "--feed", path, "--catalog-id", catalog,
                     "--country", "US", "--language", "en-US", check=0)
        run = ps.run("run", name, check=3)  # the feed is not there
        log = add.stderr + run.stderr
        self.assertIn("\\n" + FORGED, log)
        self.assertEqual(forged_lines(log), [], log)
        self.assertNotIn("\x1b", log)
        # A status outside the spec's enum, as Pinterest sent it.
        items = [make_item(i) for i in range(3)]
        write_csv(path, items)
        self.sim.config(item_status={"SKU-00001": "QUEUED\n" + FORGED})
        r = ps.run("run", name, check=6)
        self.assertIn("is not one pinsync knows", r.stderr)
        self.assertEqual(forged_lines(r.stderr), [], r.stderr)

    # -- 5. no traps -----------------------------------------------------------------------

    def test_config_file_inline_comments(self):
        """Finding: an inline "# comment" in the config file became part of the value
        (api_base = https://api.pinterest.com/v5   # production was taken as the URL)."""
        items = [make_item(i) for i in range(3)]
        name, path, catalog = self.new_target(items, sync=False)
        conf = os.path.join(self.tmp.name, "pinsync.conf")
        with open(conf, "w") as f:
            f.write("# pinsync\n"
                    f"api_base = {self.sim.api_base}   # the simulator\n"
                    "run_deadline_s = 600\t# ten minutes\n"
                    'log_level = "info"  # quoted\n')
        ps = self.with_env(PINSYNC_CONFIG=conf)
        del ps.env["PINSYNC_API_BASE"]
        out = ps.run("config", check=0).stdout
        self.assertRegex(out, rf"(?m)^api_base\s+= {re.escape(self.sim.api_base)}    #")
        self.assertRegex(out, r"(?m)^run_deadline_s\s+= 600    #")
        ps.run("run", name, check=0)
        assert_converged(self, name, catalog, items)
        # A bad line is refused with its number.
        with open(conf, "a") as f:
            f.write('listen = "127.0.0.1:8080\n')
        r = ps.run("config", check=2)
        self.assertIn(f"{conf}:5: a quoted value needs its closing quote", r.stderr)

    def test_relative_paths_are_stored_absolute(self):
        """Finding: a relative --feed or --webhook-secret-file was stored as typed and
        broke from any other working directory (exit 3, or every webhook 401)."""
        from test_serve import Serve  # noqa: E402
        d = tempfile.mkdtemp(dir=self.tmp.name)
        items = [make_item(i) for i in range(4)]
        write_csv(os.path.join(d, "feed.csv"), items)
        with open(os.path.join(d, "map.txt"), "w") as f:
            f.write("brand = \"Acme\"\n")
        with open(os.path.join(d, "hook.secret"), "w") as f:
            f.write("own-secret-0123456789\n")
        type(self).n += 1
        name, catalog = f"t{self.n}", str(8000 + self.n)
        self.sim.add_catalog(catalog)
        r = subprocess.run([self.ps.bin, "target", "add", name, "--feed", "./feed.csv",
                            "--map", "map.txt", "--catalog-id", catalog, "--country", "US",
                            "--language", "en-US"], cwd=d, env=self.ps.env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"stored as {d}/feed.csv", r.stdout)
        r = subprocess.run([self.ps.bin, "target", "set", name, "--webhook-secret-file",
                            "hook.secret"], cwd=d, env=self.ps.env, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.target_row(name, "feed"), f"{d}/feed.csv")
        self.assertEqual(self.target_row(name, "map_file"), f"{d}/map.txt")
        self.assertEqual(self.target_row(name, "webhook_secret_file"), f"{d}/hook.secret")
        # From another directory: the run reads the feed, a webhook signed with
        # the target's own secret is taken.
        r = subprocess.run([self.ps.bin, "run", name], cwd="/", env=self.ps.env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        assert_converged(self, name, catalog, items)
        s = Serve(self.ps, PINSYNC_SERVE_WORKERS="0")
        try:
            self.assertEqual(s.hook(name, secret="own-secret-0123456789")[0], 202, s.log())
        finally:
            s.stop()
            s.cleanup()
        # A path where nothing is yet: stored, with a warning.
        r = subprocess.run([self.ps.bin, "target", "set", name, "--map", "later.txt"],
                           cwd=d, env=self.ps.env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"{d}/later.txt: nothing there yet", r.stderr)
        self.ps.run("target", "set", name, "--map", "", check=0)

    def test_token_lookup_names_the_client_id(self):
        """Finding: `auth set` without PINSYNC_CLIENT_ID stored tokens under "default"
        and a later run said only "no Pinterest tokens stored"."""
        items = [make_item(i) for i in range(2)]
        name, path, catalog = self.new_target(items, sync=False)
        # auth set without PINSYNC_CLIENT_ID: stored under "default", said so.
        ps = self.with_env(PINSYNC_LOG_FORMAT="text")
        del ps.env["PINSYNC_CLIENT_ID"]
        tok = os.path.join(self.tmp.name, "at")
        with open(tok, "w") as f:
            f.write("some-access-token\n")
        r = ps.run("auth", "set", "--access-token-file", tok, check=0)
        self.assertIn("tokens stored for client id default (PINSYNC_CLIENT_ID is not set)",
                      r.stdout)
        self.assertIn("PINSYNC_CLIENT_ID is not set", r.stderr)
        try:
            # A run under another client id: the message names the id it looked
            # for, those that have tokens, and what to set.
            other = self.with_env(PINSYNC_CLIENT_ID="other-app", PINSYNC_LOG_FORMAT="text")
            r = other.run("run", name, check=2)
            self.assertIn('no Pinterest tokens stored for client id "other-app"', r.stderr)
            self.assertIn('"default"', r.stderr)
            self.assertIn(f'"{Simulator.CLIENT_ID}"', r.stderr)
            self.assertIn("PINSYNC_CLIENT_ID=other-app pinsync auth set", r.stderr)
            r = other.run("auth", "status", check=2)
            self.assertIn('client id "other-app"', r.stderr)
        finally:
            self.pg.psql("DELETE FROM oauth_tokens WHERE client_id = 'default'")

    def test_database_failure_during_token_lookup_is_exit_4(self):
        """Finding: a database error during the token lookup exited 2 (usage), not 4."""
        items = [make_item(i) for i in range(2)]
        name, path, catalog = self.new_target(items, sync=False)
        self.pg.psql("ALTER TABLE oauth_tokens RENAME TO oauth_tokens_away")
        try:
            r = self.ps.run("run", name, check=4)
            self.assertIn("oauth_tokens", r.stderr)
            r = self.ps.run("auth", "status", check=4)
        finally:
            self.pg.psql("ALTER TABLE oauth_tokens_away RENAME TO oauth_tokens")
        self.ps.run("run", name, check=0)

    def test_tokens_on_the_command_line_draw_a_warning(self):
        """Finding: --access-token on the command line was accepted silently."""
        r = self.ps.run("auth", "set", "--access-token", Simulator.ACCESS_TOKEN,
                        "--refresh-token", Simulator.REFRESH_TOKEN, "--expires-in", "86400",
                        check=0)
        self.assertIn("--access-token-file", r.stderr)
        self.assertIn("--refresh-token-file", r.stderr)
        self.assertNotIn(Simulator.ACCESS_TOKEN, r.stdout + r.stderr)
        at, rt = os.path.join(self.tmp.name, "at2"), os.path.join(self.tmp.name, "rt2")
        for p, t in ((at, Simulator.ACCESS_TOKEN), (rt, Simulator.REFRESH_TOKEN)):
            with open(p, "w") as f:
                f.write(t + "\n")
        r = self.ps.run("auth", "set", "--access-token-file", at, "--refresh-token-file", rt,
                        "--expires-in", "86400", check=0)
        self.assertEqual(r.stderr, "")

    def test_feed_password_in_url(self):
        """Finding: feed passwords in user:pass@ URLs were accepted silently and stored
        in plain text. Now: a warning naming the file forms; with
        --feed-password-file the URL is stored without its password and runs use the
        file; the password never shows in an output or the log."""
        items = [make_item(i) for i in range(3)]
        type(self).n += 1
        name, catalog = f"t{self.n}", str(8000 + self.n)
        self.sim.add_catalog(catalog)
        path = os.path.join(self.tmp.name, f"{name}.csv")
        write_csv(path, items)
        srv = FeedServer(path)
        self.addCleanup(srv.stop)
        pw = FeedServer.PASSWORD
        outputs = []
        # In the URL alone: warned, stored (there is no file to keep instead).
        r = self.ps.run("target", "add", name, "--feed", srv.url(), "--catalog-id", catalog,
                        "--country", "US", "--language", "en-US", check=0)
        outputs.append(r.stdout + r.stderr)
        self.assertIn("--feed-password-file", r.stderr)
        self.assertIn("PINSYNC_FEED_PASSWORD_FILE", r.stderr)
        self.assertIn("stored in plain text", r.stderr)
        self.assertIn(pw, self.target_row(name, "feed"))
        # A password file given alone takes the password out of the stored URL.
        pwfile = os.path.join(self.tmp.name, "feed.pw")
        with open(pwfile, "w") as f:
            f.write(pw + "\n")
        r = self.ps.run("target", "set", name, "--feed-password-file", pwfile, check=0)
        outputs.append(r.stdout + r.stderr)
        self.assertEqual(self.target_row(name, "feed"), srv.url(password=False))
        self.assertEqual(self.target_row(name, "feed_password_file"), pwfile)
        r = self.ps.run("run", name, check=0)
        outputs.append(r.stdout + r.stderr)
        self.assertEqual(sorted(self.sim.catalog(catalog)), sorted(it["id"] for it in items))
        # A new URL with a password, the target having a file: not stored.
        r = self.ps.run("target", "set", name, "--feed", srv.url(), check=0)
        outputs.append(r.stdout + r.stderr)
        self.assertIn("--feed-password-file", r.stderr)
        self.assertNotIn(pw, self.target_row(name, "feed"))
        outputs.append(self.ps.run("target", "list", check=0).stdout)
        # check FEED with a password in the URL: warned too.
        r = self.ps.run("check", srv.url(), check=0)
        self.assertIn("--password-file", r.stderr)
        outputs.append(r.stdout + r.stderr)
        for out in outputs:
            self.assertNotIn(pw, out)

    # -- 6. duplicates decided by valid items -----------------------------------------------

    def test_first_valid_occurrence_wins_in_either_order(self):
        """Finding: an invalid first occurrence of an id marked it seen, so a later
        valid row with the same id was dropped as "an earlier item wins"; neither was
        sent. Both orders, for ids in the snapshot and new ones."""
        items = [make_item(i) for i in range(4)]
        name, path, catalog = self.new_target(items)
        a = make_item(0, price="1.11 USD")   # in the snapshot: valid, then invalid
        b = make_item(1, price="2.22 USD")   # in the snapshot: invalid, then valid
        c = make_item(10, price="3.33 USD")  # new: invalid, then valid
        rows = [a, make_item(1, price="cheap"), b, make_item(10, price="cheap"), c,
                make_item(0, title=""), items[2], items[3]]
        write_csv(path, rows)
        r = self.ps.run("run", name, check=6)
        self.assertIn("invalid 3", r.stdout)
        self.assertEqual(self.sent(), [("UPDATE", "SKU-00000"), ("UPDATE", "SKU-00001"),
                                       ("UPSERT", "SKU-00010")])
        problems = sorted(tuple(p) for p in self.pg.psql(
            "SELECT p.item_id, p.attribute, p.code FROM item_problems p"
            " JOIN runs r ON r.id = p.run_id JOIN targets t ON t.id = r.target_id"
            f" WHERE t.name = '{name}'"))
        self.assertEqual(problems, [("SKU-00000", "id", "duplicate"),
                                    ("SKU-00000", "title", "missing"),
                                    ("SKU-00001", "price", "bad_price"),
                                    ("SKU-00010", "price", "bad_price")])
        assert_converged(self, name, catalog, [a, b, c, items[2], items[3]])
        # pinsync check counts and reports alike.
        r = self.ps.run("check", path, check=0)
        self.assertIn("items: 8  valid: 5  invalid: 3  duplicates: 0", r.stdout)
        self.assertRegex(r.stdout, r"\[SKU-00000\]: duplicate: duplicate id: a run sends the "
                                   r"earlier valid item")
        self.assertNotRegex(r.stdout, r"\[SKU-0000[1]\]: duplicate")


if __name__ == "__main__":
    unittest.main()
