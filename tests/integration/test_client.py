"""The Pinterest client against the simulator: HTTP, OAuth and rate limits.

Real PostgreSQL, the simulator, the pinsync binary. Asserts from the
simulator's request log (with its arrival times "t") what pinsync sent, when,
and with which headers, and from oauth_tokens what it stored.
"""

import base64
import csv
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import PgCluster, Pinsync, Simulator, SyncCase, free_port  # noqa: E402

COLUMNS = ["id", "title", "description", "link", "image_link", "price", "availability"]
BATCH_PATH = "/v5/catalogs/items/batch"


def write_feed(path, count, prefix="SKU"):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\r\n")
        w.writeheader()
        for i in range(count):
            w.writerow({"id": f"{prefix}-{i:05d}", "title": f"Product {i}",
                        "description": f"Description {i}",
                        "link": f"https://shop.example/p/{i}",
                        "image_link": f"https://shop.example/i/{i}.jpg",
                        "price": f"{10 + i % 90}.99 USD", "availability": "in stock"})


def log_lines(stderr):
    """pinsync's JSON log lines."""
    out = []
    for line in stderr.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


class ClientTest(SyncCase):
    store_tokens_at_start = False
    targets = 0

    def setUp(self):
        # Every test starts from the simulator's start-up tokens, stored.
        self.sim.reset()
        self.store_tokens()

    def store_tokens(self, access=Simulator.ACCESS_TOKEN, refresh=Simulator.REFRESH_TOKEN,
                     expires_in="86400", refresh_expires_in=None, ps=None):
        args = ["auth", "set", "--access-token", access, "--refresh-token", refresh,
                "--expires-in", expires_in]
        if refresh_expires_in:
            args += ["--refresh-expires-in", refresh_expires_in]
        (ps or self.ps).run(*args, check=0)

    def new_target(self, items=3):
        """A target of its own, on catalog 1001, with a feed of items."""
        type(self).targets += 1
        name = f"t{self.targets}"
        path = os.path.join(self.tmp.name, name + ".csv")
        write_feed(path, items, prefix=name.upper())
        self.ps.run("target", "add", name, "--feed", path, "--catalog-id", "1001",
                    "--country", "US", "--language", "en-US", check=0)
        self.sim.clear_requests()  # target add asked whether the catalog has a feed source
        return name

    def stored_tokens(self):
        rows = self.pg.psql("SELECT access_token, refresh_token FROM oauth_tokens "
                            f"WHERE client_id = '{Simulator.CLIENT_ID}'")
        return rows[0]

    def run_row(self, name):
        rows = self.pg.psql(
            "SELECT r.outcome, r.retries, r.retry_wait_s, coalesce(r.error, '') FROM runs r "
            f"JOIN targets t ON t.id = r.target_id WHERE t.name = '{name}' "
            "ORDER BY r.id DESC LIMIT 1")
        outcome, retries, wait, error = rows[0]
        return outcome, int(retries), float(wait), error

    def refresh_with(self, refresh_token):
        """POSTs a refresh grant to the simulator as Pinterest's client would:
        (status, body)."""
        cred = base64.b64encode(
            f"{Simulator.CLIENT_ID}:{Simulator.CLIENT_SECRET}".encode()).decode()
        req = urllib.request.Request(
            self.sim.api_base + "/oauth/token", method="POST",
            data=f"grant_type=refresh_token&refresh_token={refresh_token}".encode(),
            headers={"Authorization": "Basic " + cred,
                     "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def assert_rid_on_failures(self, stderr):
        """Every warning or error about an answer names its x-pinterest-rid."""
        for line in log_lines(stderr):
            if line["level"] in ("warn", "error") and "HTTP " in line["msg"]:
                self.assertRegex(line["msg"], r"x-pinterest-rid [0-9a-f]{8,}", line)

    # ---- HTTP ----

    def test_user_agent_and_keep_alive(self):
        name = self.new_target(5)
        r = self.ps.run("run", name, check=0)
        reqs = self.sim.requests()
        self.assertGreaterEqual(len(reqs), 2)
        version = self.ps.run("--version", check=0).stdout.split()[-1]
        for req in reqs:
            self.assertEqual(req["headers"].get("user-agent"), f"pinsync/{version}")
        # One libcurl handle, one connection kept alive for every request.
        stats = [ln["msg"] for ln in log_lines(r.stderr)
                 if ln["msg"].startswith("HTTP client:")]
        self.assertEqual(len(stats), 1, r.stderr)
        self.assertIn(f"{len(reqs)} requests over 1 connections", stats[0])

    def test_total_timeout(self):
        name = self.new_target(2)
        self.sim.config(delay_ms=1500)
        ps = Pinsync(self.pg, self.sim, PINSYNC_HTTP_TIMEOUT_MS="300", PINSYNC_MAX_RETRY_S="1")
        start = time.monotonic()
        r = ps.run("run", name, check=5)
        self.assertLess(time.monotonic() - start, 8)
        self.assertIn("Operation timed out", r.stdout)
        self.assertIn("gave up after", r.stdout)

    def test_tls_is_verified_and_http2_offered(self):
        """A TLS server with a self-signed certificate: pinsync refuses it at
        once (no retry, nothing sent), and its handshake offered h2."""
        key = os.path.join(self.tmp.name, "key.pem")
        cert = os.path.join(self.tmp.name, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = TlsProbe(cert, key)
        try:
            name = self.new_target(2)
            ps = Pinsync(self.pg, self.sim, PINSYNC_API_BASE=server.base + "/v5",
                         PINSYNC_MAX_RETRY_S="30")
            start = time.monotonic()
            r = ps.run("run", name, check=5)
            self.assertLess(time.monotonic() - start, 5)
            self.assertIn("certificate", r.stdout)
        finally:
            server.stop()
        self.assertEqual(server.connections, 1, "a certificate failure is not retried")
        self.assertIn(b"h2", server.alpn_offered[0])
        self.assertEqual(server.requests_read, 0)

    # ---- OAuth ----

    def test_expired_access_token_one_refresh_stored_before_use(self):
        name = self.new_target(3)
        old_access, old_refresh = self.stored_tokens()
        self.sim.config(expire_access_token=True)
        r = self.ps.run("run", name, check=0)
        posts = self.sim.token_posts()
        self.assertEqual([p["status"] for p in posts], [200])
        reqs = self.sim.requests()
        # The refused request is sent again, with the new token.
        refused = [q for q in reqs if q["status"] == 401]
        self.assertEqual(len(refused), 1)
        after = [q for q in reqs if q["seq"] > posts[0]["seq"]]
        self.assertEqual((after[0]["method"], after[0]["path"]),
                         (refused[0]["method"], refused[0]["path"]))
        self.assertEqual(after[0]["status"], 200)
        # The rotated refresh token is the one in PostgreSQL...
        sim_tokens = self.sim.tokens()
        access, refresh = self.stored_tokens()
        self.assertEqual(refresh, sim_tokens["refresh_token"])
        self.assertEqual(access, sim_tokens["access_token"])
        self.assertNotEqual(refresh, old_refresh)
        # ...and the old one is dead.
        status, body = self.refresh_with(old_refresh)
        self.assertEqual((status, body["code"]), (400, 283))
        # No token in the log.
        for secret in (old_access, old_refresh, access, refresh):
            self.assertNotIn(secret, r.stdout + r.stderr)

    def test_new_access_token_unused_until_committed(self):
        """When the rotated tokens cannot be committed, the new access token
        is never used and the run stops saying what to do."""
        name = self.new_target(3)
        self.pg.psql("CREATE FUNCTION pinsync_test_refuse() RETURNS trigger LANGUAGE plpgsql "
                     "AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$; "
                     "CREATE TRIGGER refuse BEFORE UPDATE ON oauth_tokens "
                     "FOR EACH ROW EXECUTE FUNCTION pinsync_test_refuse()")
        try:
            self.sim.config(expire_access_token=True)
            r = self.ps.run("run", name, check=5)
        finally:
            self.pg.psql("DROP TRIGGER refuse ON oauth_tokens; "
                         "DROP FUNCTION pinsync_test_refuse()")
        new_access = self.sim.tokens()["access_token"]
        self.assertNotEqual(new_access, Simulator.ACCESS_TOKEN)  # the refresh happened
        used = [q for q in self.sim.requests()
                if q["headers"].get("authorization") == "Bearer " + new_access]
        self.assertEqual(used, [])
        self.assertIn("could not store the refreshed tokens", r.stdout)
        self.assertIn("pinsync auth set", r.stdout)
        self.assertEqual(self.stored_tokens()[0], Simulator.ACCESS_TOKEN)

    def test_two_processes_refresh_once(self):
        """Two runs on two targets start together with an expired token: one
        refreshes, the other waits for its lock and uses the new token."""
        names = [self.new_target(3), self.new_target(3)]
        self.sim.config(expire_access_token=True, delay_ms=300)
        procs = [subprocess.Popen([self.ps.bin, "run", n], env=self.ps.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for n in names]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (out, err) in zip(procs, outs):
            self.assertEqual(p.returncode, 0, out + err)
        self.assertEqual(len(self.sim.token_posts()), 1)
        adopted = [err for _, err in outs if "refreshed by another pinsync" in err]
        self.assertEqual(len(adopted), 1, "the second process waited for the first")
        self.assertEqual(self.stored_tokens()[1], self.sim.tokens()["refresh_token"])

    def test_invalid_grant_stops_with_reauthorise_message(self):
        name = self.new_target(3)
        self.store_tokens(refresh="sim-refresh-revoked")
        self.sim.config(expire_access_token=True)
        r = self.ps.run("run", name, check=5)
        self.assertIn("code 283", r.stdout)
        self.assertIn("re-authorise pinsync in the Pinterest app", r.stdout)
        self.assertIn("pinsync auth set --access-token-file FILE --refresh-token-file FILE",
                      r.stdout)
        posts = [q["status"] for q in self.sim.requests()
                 if q["method"] == "POST" and q["path"] == BATCH_PATH]
        self.assertEqual(posts, [401], "nothing sent after the refused refresh")
        self.assertEqual(len(self.sim.token_posts()), 1, "283 is not retried")
        self.assert_rid_on_failures(r.stderr)

    def test_expired_refresh_token_stops_without_asking(self):
        name = self.new_target(3)
        self.pg.psql("UPDATE oauth_tokens SET access_expires_at = now() - interval '1 hour', "
                     "refresh_expires_at = now() - interval '1 day'")
        r = self.ps.run("run", name, check=5)
        self.assertIn("refresh token has expired", r.stdout)
        self.assertIn("re-authorise", r.stdout)
        self.assertEqual(self.sim.requests(), [])

    def test_refresh_token_close_to_expiry_warns(self):
        name = self.new_target(2)
        self.store_tokens(refresh_expires_in=str(3 * 86400))
        r = self.ps.run("run", name, check=0)
        warns = [ln["msg"] for ln in log_lines(r.stderr) if ln["level"] == "warn"]
        self.assertTrue(any("refresh token expires" in w and "in 3 days" in w
                            and "re-authorise" in w for w in warns), r.stderr)
        # Far from expiry: no warning.
        self.store_tokens(refresh_expires_in=str(30 * 86400))
        r = self.ps.run("run", name, check=0)
        self.assertNotIn("refresh token expires", r.stderr)

    def test_auth_status_never_prints_tokens(self):
        access, refresh = "Zq8Xv2Lm4Np7Rt1Kd", "Hw3Jc9Ys6Bf0Ge5Pu"
        self.store_tokens(access=access, refresh=refresh, expires_in=str(10 * 86400),
                          refresh_expires_in=str(60 * 86400))
        r = self.ps.run("auth", "status", check=0)
        out = r.stdout + r.stderr
        self.assertIn(f"client id:      {Simulator.CLIENT_ID}", r.stdout)
        self.assertRegex(r.stdout, r"access token:   expires \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC "
                                   r"\(in 10 days\)")
        self.assertRegex(r.stdout, r"refresh token:  expires .* UTC \(in 60 days\)")
        self.assertRegex(r.stdout, r"last update:    \d{4}-\d\d-\d\d")
        self.assertNotIn("action needed", r.stdout)
        for secret in (access, refresh):
            for i in range(0, len(secret) - 6):
                self.assertNotIn(secret[i:i + 7], out)
        # Close to the end: says what to do.
        self.store_tokens(refresh_expires_in="7200")
        r = self.ps.run("auth", "status", check=0)
        self.assertIn("(in 2 hours)", r.stdout)
        self.assertIn("action needed:  the refresh token expires within 7 days", r.stdout)
        # No tokens at all: a clear error.
        ps = Pinsync(self.pg, self.sim, PINSYNC_CLIENT_ID="another-app")
        r = ps.run("auth", "status", check=2)
        self.assertIn("no Pinterest tokens stored", r.stderr)

    # ---- OAuth: a refresh is sent once per rotation ----

    TOKEN_PATH = "/v5/oauth/token"

    def token_fault(self, status, after=False, retry_after=None):
        rule = {"path_prefix": self.TOKEN_PATH, "method": "POST", "status": status, "count": 1,
                "after": after}
        if retry_after is not None:
            rule["retry_after"] = retry_after
        return rule

    def lost_mark(self):
        """(refresh_lost_at as epoch seconds or None, refresh_lost_detail)."""
        at, detail = self.pg.psql(
            "SELECT coalesce(extract(epoch FROM refresh_lost_at)::bigint::text, ''),"
            " coalesce(refresh_lost_detail, '') FROM oauth_tokens "
            f"WHERE client_id = '{Simulator.CLIENT_ID}'")[0]
        return (int(at) if at else None), detail

    def errors(self, stderr):
        return [ln["msg"] for ln in log_lines(stderr) if ln["level"] == "error"]

    def assert_says_lost(self, text, detail_re):
        """The lost-answer message: what happened, why no retry, what to do."""
        self.assertRegex(text, r"the answer to the token refresh was lost \(" + detail_re)
        self.assertIn("Pinterest may have rotated the refresh token, and pinsync does not "
                      "resend a refresh with a token that may be dead", text)
        self.assertIn("The next run tries the stored refresh token once; if Pinterest "
                      "refuses it (code 283), re-authorise pinsync in the Pinterest app", text)
        self.assertIn("pinsync auth set --access-token-file FILE --refresh-token-file FILE",
                      text)

    def test_refresh_answer_lost_after_rotation(self):
        """Pinterest rotates the token, then its answer is lost (a dropped
        connection, a 503): one POST, never a retry with the dead token; the
        run stops saying so, the mark is kept; the next run tries once, gets
        283 and names the lost answer; auth set with the new tokens clears it."""
        cases = [(0, r"no answer after the request was sent: [^)]+\)"),
                 (503, r"HTTP 503 code 3, x-pinterest-rid [0-9a-f]{8,}\)")]
        for status, detail_re in cases:
            with self.subTest(status=status):
                self.sim.reset()
                self.store_tokens()
                name = self.new_target(3)
                self.sim.config(expire_access_token=True,
                                fail_next=[self.token_fault(status, after=True)])
                before = int(time.time())
                r = self.ps.run("run", name, check=5)
                posts = self.sim.token_posts()
                self.assertEqual([p["status"] for p in posts], [status], "sent once")
                rotated = self.sim.tokens()
                self.assertNotEqual(rotated["refresh_token"], Simulator.REFRESH_TOKEN)
                errors = self.errors(r.stderr)
                self.assertEqual(len(errors), 1, r.stderr)
                self.assert_says_lost(errors[0], detail_re)
                self.assert_says_lost(r.stdout, detail_re)
                # Nothing else went out once the refresh was lost.
                self.assertEqual([q["status"] for q in self.sim.requests()
                                  if q["path"] == BATCH_PATH], [401])
                self.assertEqual(self.run_row(name)[0], "failed")
                # Recorded: when and what; the stored tokens are untouched.
                at, detail = self.lost_mark()
                self.assertGreaterEqual(at, before)
                self.assertRegex(detail + ")", detail_re)
                self.assertEqual(self.stored_tokens(),
                                 [Simulator.ACCESS_TOKEN, Simulator.REFRESH_TOKEN])
                status_out = self.ps.run("auth", "status", check=0).stdout
                self.assertRegex(status_out, r"refresh answer: lost at \d{4}-\d\d-\d\d "
                                             r"\d\d:\d\d:\d\d UTC \(" + detail_re)
                self.assertIn("action needed:  the answer to a token refresh was lost: "
                              "Pinterest may have rotated the refresh token", status_out)
                self.assertIn("if Pinterest refuses it (code 283), re-authorise", status_out)

                # The next run tries the stored (dead) token once: 283, named.
                self.sim.clear_requests()
                r2 = self.ps.run("run", name, check=5)
                self.assertEqual([p["status"] for p in self.sim.token_posts()], [400])
                self.assertRegex(r2.stdout, r"Pinterest refused the refresh token \(code 283, "
                                            r"x-pinterest-rid [0-9a-f]+\): it was most likely "
                                            r"rotated by the token refresh whose answer was "
                                            r"lost at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \("
                                            + detail_re)
                self.assertIn("re-authorise pinsync in the Pinterest app", r2.stdout)
                self.assertTrue(any("the answer to an earlier token refresh was lost" in w
                                    for w in (ln["msg"] for ln in log_lines(r2.stderr)
                                              if ln["level"] == "warn")), r2.stderr)
                self.assertIsNotNone(self.lost_mark()[0], "283 does not clear the mark")

                # Re-authorised (here: the tokens Pinterest holds): all well.
                self.store_tokens(access=rotated["access_token"],
                                  refresh=rotated["refresh_token"])
                self.assertEqual(self.lost_mark(), (None, ""))
                status_out = self.ps.run("auth", "status", check=0).stdout
                self.assertNotIn("refresh answer:", status_out)
                self.assertNotIn("action needed", status_out)
                r3 = self.ps.run("run", name, check=0)
                self.assertEqual(len(self.sim.catalog()), 3)
                for secret in (Simulator.ACCESS_TOKEN, Simulator.REFRESH_TOKEN,
                               rotated["access_token"], rotated["refresh_token"]):
                    for out in (r, r2, r3):
                        self.assertNotIn(secret, out.stdout + out.stderr)

    def test_refresh_answer_lost_without_rotation(self):
        """A 503 before Pinterest processed the refresh: still one try (pinsync
        cannot tell), and the next run refreshes with the same stored token,
        which clears the mark in the commit that stores the new tokens."""
        name = self.new_target(3)
        self.sim.config(expire_access_token=True, fail_next=[self.token_fault(503)])
        r = self.ps.run("run", name, check=5)
        self.assertEqual([p["status"] for p in self.sim.token_posts()], [503])
        self.assert_says_lost(r.stdout, r"HTTP 503 code 3, x-pinterest-rid [0-9a-f]+\)")
        self.assertEqual(self.sim.tokens()["refresh_token"], Simulator.REFRESH_TOKEN)
        self.assertIsNotNone(self.lost_mark()[0])

        self.sim.clear_requests()
        r = self.ps.run("run", name, check=0)
        posts = self.sim.token_posts()
        self.assertEqual([p["status"] for p in posts], [200])
        self.assertIn("refresh_token=" + Simulator.REFRESH_TOKEN, posts[0]["body"])
        self.assertIn("the answer to an earlier token refresh was lost", r.stderr)
        self.assertEqual(self.lost_mark(), (None, ""))
        self.assertEqual(self.stored_tokens()[1], self.sim.tokens()["refresh_token"])
        self.assertNotIn("refresh answer:", self.ps.run("auth", "status", check=0).stdout)
        self.assertEqual(len(self.sim.catalog()), 3)

    def test_refresh_lost_while_access_token_valid_goes_on(self):
        """The refresh was only due soon: after a lost answer the run warns
        and finishes with the access token it has; no second refresh."""
        name = self.new_target(3)
        self.store_tokens(expires_in="120")  # within the 300 s refresh margin
        self.sim.config(fail_next=[self.token_fault(503, after=True)])
        r = self.ps.run("run", name, check=0)
        self.assertEqual([p["status"] for p in self.sim.token_posts()], [503])
        warns = [ln["msg"] for ln in log_lines(r.stderr) if ln["level"] == "warn"]
        going_on = [w for w in warns if "the answer to the token refresh was lost" in w]
        self.assertEqual(len(going_on), 1, r.stderr)
        self.assert_says_lost(going_on[0], r"HTTP 503 code 3, x-pinterest-rid [0-9a-f]+\)")
        self.assertIn("the current access token is valid until", going_on[0])
        self.assertIn("so this run goes on with it", going_on[0])
        self.assertEqual(len(self.sim.catalog()), 3)
        for q in self.sim.requests():
            if q["path"] != self.TOKEN_PATH:
                self.assertEqual(q["headers"]["authorization"], "Bearer " + Simulator.ACCESS_TOKEN)
        self.assertIsNotNone(self.lost_mark()[0])
        self.assertIn("refresh answer: lost at", self.ps.run("auth", "status", check=0).stdout)

    def test_refresh_lost_then_401_sends_no_second_refresh(self):
        """Once per rotation, also within a run: after the lost answer of a
        refresh that was due soon, a 401 finds no newer tokens in the store
        and stops the run without sending the (dead) token again."""
        name = self.new_target(3)
        self.store_tokens(expires_in="120")
        self.sim.config(expire_access_token=True,
                        fail_next=[self.token_fault(503, after=True)])
        r = self.ps.run("run", name, check=5)
        self.assertEqual([p["status"] for p in self.sim.token_posts()], [503])
        self.assertEqual([q["status"] for q in self.sim.requests()
                          if q["path"] == BATCH_PATH], [401])
        self.assertIn("so this run goes on with it", r.stderr)
        self.assert_says_lost(r.stdout, r"HTTP 503 code 3, x-pinterest-rid [0-9a-f]+\)")
        self.assertIsNotNone(self.lost_mark()[0])

    def test_refresh_timeout_after_sending_is_lost(self):
        """A refresh whose answer does not come back in time was sent: it is
        lost, not retried."""
        name = self.new_target(2)
        self.store_tokens(expires_in="120")
        self.sim.config(delay_ms=1500)
        ps = Pinsync(self.pg, self.sim, PINSYNC_HTTP_TIMEOUT_MS="500", PINSYNC_MAX_RETRY_S="1")
        r = ps.run("run", name, check=5)
        self.assertEqual(len(self.sim.token_posts()), 1)
        self.assertNotEqual(self.sim.tokens()["refresh_token"], Simulator.REFRESH_TOKEN)
        at, detail = self.lost_mark()
        self.assertIsNotNone(at)
        self.assertRegex(detail, r"^no answer after the request was sent: .*timed out")
        self.assertIn("the answer to the token refresh was lost (no answer after the request "
                      "was sent", r.stderr)

    def test_refresh_429_retried_with_tokens_unlocked(self):
        """429 on the refresh: not processed, so sent again after Retry-After;
        meanwhile the oauth_tokens row is not locked (another process can take
        it at once), and the refresh then succeeds."""
        name = self.new_target(3)
        self.sim.config(expire_access_token=True,
                        fail_next=[self.token_fault(429, retry_after=3)])
        ps = Pinsync(self.pg, self.sim, PINSYNC_MAX_RETRY_S="30")
        proc = subprocess.Popen([ps.bin, "run", name], env=ps.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        probes = []
        try:
            deadline = time.monotonic() + 20
            while not self.sim.token_posts() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # well inside the 3 s Retry-After
            for _ in range(3):
                try:
                    self.pg.psql("SELECT client_id FROM oauth_tokens "
                                 f"WHERE client_id = '{Simulator.CLIENT_ID}' FOR UPDATE NOWAIT")
                    probes.append((time.time(), "free"))
                except subprocess.CalledProcessError as err:
                    probes.append((time.time(), err.stderr.strip()))
                time.sleep(0.5)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        self.assertEqual(proc.returncode, 0, out + err)
        posts = self.sim.token_posts()
        self.assertEqual([p["status"] for p in posts], [429, 200])
        self.assertGreaterEqual(posts[1]["t"] - posts[0]["t"], 2.9, "waited the Retry-After")
        self.assertTrue(all(posts[0]["t"] < t < posts[1]["t"] for t, _ in probes), probes)
        self.assertEqual([p for _, p in probes], ["free"] * 3)
        self.assertTrue(any("POST /oauth/token: HTTP 429" in w and "retry 1 in" in w
                            and "not processed by Pinterest" in w
                            for w in (ln["msg"] for ln in log_lines(err))), err)
        self.assertEqual(self.stored_tokens()[1], self.sim.tokens()["refresh_token"])
        self.assertEqual(self.lost_mark(), (None, ""))
        self.assertEqual(len(self.sim.catalog()), 3)

    def test_refresh_429_another_process_refreshes_meanwhile(self):
        """While the first process waits out a 429 (tokens unlocked), a second
        one refreshes; the first then finds its tokens and sends nothing."""
        names = [self.new_target(3), self.new_target(3)]
        self.sim.config(expire_access_token=True,
                        fail_next=[self.token_fault(429, retry_after=4)])
        ps = Pinsync(self.pg, self.sim, PINSYNC_MAX_RETRY_S="30")
        procs = []
        try:
            procs.append(subprocess.Popen([ps.bin, "run", names[0]], env=ps.env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))
            deadline = time.monotonic() + 20
            while not self.sim.token_posts() and time.monotonic() < deadline:
                time.sleep(0.05)
            procs.append(subprocess.Popen([ps.bin, "run", names[1]], env=ps.env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))
            outs = [p.communicate(timeout=60) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.communicate()
        for p, (out, err) in zip(procs, outs):
            self.assertEqual(p.returncode, 0, out + err)
        self.assertEqual([p["status"] for p in self.sim.token_posts()], [429, 200])
        self.assertIn("refreshed by another pinsync", outs[0][1])
        self.assertNotIn("refreshed by another pinsync", outs[1][1])
        self.assertEqual(self.stored_tokens()[1], self.sim.tokens()["refresh_token"])

    def test_refresh_connection_refused_retried(self):
        """No connection: the refresh certainly did not reach Pinterest, so
        it is tried again (nothing marked lost), until the budget is spent or
        Pinterest answers."""
        name = self.new_target(3)
        self.store_tokens(expires_in="120")  # the refresh is the first request
        port = free_port()
        base = f"http://127.0.0.1:{port}/v5"
        # Nobody listens: retried within the budget, then a clean stop.
        ps = Pinsync(self.pg, self.sim, PINSYNC_API_BASE=base, PINSYNC_MAX_RETRY_S="2")
        r = ps.run("run", name, check=5)
        self.assertRegex(r.stdout, r"error: .*[Cc]onnect.*gave up after [1-9]\d* retries")
        self.assertNotIn("was lost", r.stdout + r.stderr)
        self.assertEqual(self.lost_mark(), (None, ""))
        self.assertEqual(self.sim.requests(), [])
        # Pinterest becomes reachable while pinsync waits to retry.
        forwarder = TcpForwarder(port, self.sim.port, delay_s=1.5)
        try:
            ps = Pinsync(self.pg, self.sim, PINSYNC_API_BASE=base, PINSYNC_MAX_RETRY_S="30")
            r = ps.run("run", name, check=0)
        finally:
            forwarder.stop()
        self.assertEqual([p["status"] for p in self.sim.token_posts()], [200])
        self.assertRegex(r.stderr, r"POST /oauth/token: [^\"]*[Cc]onnect[^\"]*; retry 1 in")
        self.assertEqual(self.lost_mark(), (None, ""))
        self.assertEqual(self.stored_tokens()[1], self.sim.tokens()["refresh_token"])
        self.assertEqual(len(self.sim.catalog()), 3)

    # ---- rate limits and retries ----

    def test_never_faster_than_the_announced_limit(self):
        limit, window = 5, 1.0
        name = self.new_target(2500)  # 3 batches
        self.sim.config(rate_limit={"limit": limit, "window_s": 1}, processing_polls=5)
        start = time.monotonic()
        r = self.ps.run("run", name, check=0)
        elapsed = time.monotonic() - start
        reqs = self.sim.requests()
        self.assertGreaterEqual(len(reqs), 18, "enough requests to need pacing")
        times = sorted(q["t"] for q in reqs)
        for i, t in enumerate(times):
            in_window = [u for u in times[i:] if u < t + window]
            self.assertLessEqual(len(in_window), limit, f"window from {t}: {in_window}")
        limited = [q for q in reqs if q["status"] == 429]
        self.assertLessEqual(len(limited), max(1, int(elapsed / window)) // 4,
                             "429s are rare exceptions, not the pacing")
        self.assertGreaterEqual(elapsed, (len(reqs) - limit) / limit * window * 0.9)
        self.assertEqual(len(self.sim.catalog()), 2500)
        self.assertIn("paced by the rate limit", r.stderr)

    def test_429_storm_waits_for_retry_after(self):
        name = self.new_target(3)
        self.sim.config(fail_next=[{"path_prefix": BATCH_PATH, "method": "POST",
                                    "status": 429, "count": 5, "retry_after": 1}])
        ps = Pinsync(self.pg, self.sim, PINSYNC_MAX_RETRY_S="30")
        r = ps.run("run", name, check=0)
        posts = [q for q in self.sim.requests()
                 if q["method"] == "POST" and q["path"] == BATCH_PATH]
        self.assertEqual([q["status"] for q in posts], [429] * 5 + [200])
        for a, b in zip(posts, posts[1:]):
            self.assertGreaterEqual(b["t"] - a["t"], 0.98, "waited the Retry-After")
        self.assertEqual(len(self.sim.catalog()), 3)
        outcome, retries, wait, _ = self.run_row(name)
        self.assertEqual((outcome, retries), ("ok", 5))
        self.assertGreaterEqual(wait, 5.0)
        self.assert_rid_on_failures(r.stderr)

    def test_5xx_and_network_bursts_recovered(self):
        name = self.new_target(3)
        self.sim.config(fail_next=[
            {"path_prefix": BATCH_PATH, "method": "POST", "status": 503, "count": 3},
            {"path_prefix": BATCH_PATH + "/", "method": "GET", "status": 0, "count": 2}])
        r = self.ps.run("run", name, check=0)
        posts = [q["status"] for q in self.sim.requests() if q["method"] == "POST"]
        self.assertEqual(posts, [503, 503, 503, 200])
        self.assertEqual(len(self.sim.catalog()), 3)
        outcome, retries, _, _ = self.run_row(name)
        self.assertEqual(outcome, "ok")
        # 3 for the 503s, 1 or 2 for the drops: libcurl itself re-sends once
        # a request whose reused connection died before any answer.
        self.assertIn(retries, (4, 5))
        self.assert_rid_on_failures(r.stderr)

    def test_retry_budget_spent_stops_cleanly(self):
        name = self.new_target(3)
        self.sim.config(fail_next=[{"path_prefix": "/v5/", "status": 503, "count": 100}])
        ps = Pinsync(self.pg, self.sim, PINSYNC_MAX_RETRY_S="1")
        start = time.monotonic()
        r = ps.run("run", name, check=5)
        self.assertLess(time.monotonic() - start, 10)
        self.assertRegex(r.stdout, r"error: .*HTTP 503 code \d+: .*gave up after \d+ retries"
                                   r".*PINSYNC_MAX_RETRY_S.*x-pinterest-rid [0-9a-f]+")
        self.assertLessEqual(len(self.sim.requests()), 4)
        outcome, _, wait, error = self.run_row(name)
        self.assertEqual(outcome, "failed")
        self.assertIn("HTTP 503", error)
        self.assertLessEqual(wait, 1.0)
        self.assert_rid_on_failures(r.stderr)

    def test_other_4xx_not_retried(self):
        type(self).targets += 1
        name = f"t{self.targets}"
        path = os.path.join(self.tmp.name, name + ".csv")
        write_feed(path, 3)
        self.ps.run("target", "add", name, "--feed", path, "--catalog-id", "99999",
                    "--country", "US", "--language", "en-US", check=0)
        r = self.ps.run("run", name, check=6)
        posts = [q for q in self.sim.requests() if q["method"] == "POST"]
        self.assertEqual([q["status"] for q in posts], [404])
        self.assert_rid_on_failures(r.stderr)


class TcpForwarder:
    """Listens on 127.0.0.1:port only after delay_s (until then, connections
    are refused), then forwards each connection to 127.0.0.1:target."""

    def __init__(self, port, target, delay_s):
        self.port, self.target = port, target
        self.running = True
        self.sock = None
        self.thread = threading.Thread(target=self._serve, args=(delay_s,), daemon=True)
        self.thread.start()

    def _serve(self, delay_s):
        time.sleep(delay_s)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        src.close()  # each socket is the source of one pipe

    def stop(self):
        self.running = False
        self.thread.join(5)
        if self.sock:
            self.sock.close()


class TlsProbe:
    """A TLS server on 127.0.0.1 with a certificate nobody trusts. It reads
    each ClientHello (to see the ALPN protocols offered), then tries the
    handshake and counts any request that gets through."""

    def __init__(self, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.set_alpn_protocols(["h2", "http/1.1"])
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.base = f"https://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        self.alpn_offered = []
        self.requests_read = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            with conn:
                conn.settimeout(5)
                self.alpn_offered.append(self._alpn(conn))
                try:
                    with self.ctx.wrap_socket(conn, server_side=True) as tls:
                        if tls.recv(1):
                            self.requests_read += 1
                except (ssl.SSLError, OSError):
                    pass

    @staticmethod
    def _alpn(conn):
        """The ALPN list of the ClientHello waiting on conn (peeked, not read)."""
        data = b""
        for _ in range(50):
            data = conn.recv(16384, socket.MSG_PEEK)
            if len(data) >= 5 and len(data) >= 5 + int.from_bytes(data[3:5], "big"):
                break
            time.sleep(0.01)
        p = 5 + 4 + 2 + 32  # record, handshake headers, version, random
        p += 1 + data[p]  # session id
        p += 2 + int.from_bytes(data[p:p + 2], "big")  # cipher suites
        p += 1 + data[p]  # compression methods
        end = p + 2 + int.from_bytes(data[p:p + 2], "big")
        p += 2
        while p + 4 <= end:
            kind = int.from_bytes(data[p:p + 2], "big")
            size = int.from_bytes(data[p + 2:p + 4], "big")
            if kind == 16:  # application_layer_protocol_negotiation
                return data[p + 6:p + 4 + size]
            p += 4 + size
        return b""

    def stop(self):
        self.running = False
        self.thread.join(5)
        self.sock.close()


if __name__ == "__main__":
    unittest.main()
