"""The command line: help on every command, one-line usage errors with
exit status 2, and secrets kept out of the output."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import PgCluster, Pinsync, Simulator  # noqa: E402

COMMANDS = [["migrate"], ["target"], ["target", "add"], ["target", "set"], ["target", "list"],
            ["auth"],
            ["auth", "set"], ["run"], ["poll"], ["status"], ["errors"], ["config"]]


class CliTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pg = PgCluster().start()
        cls.ps = Pinsync(cls.pg)
        cls.ps.run("migrate", check=0)

    @classmethod
    def tearDownClass(cls):
        cls.pg.destroy()

    def test_help_everywhere(self):
        r = self.ps.run("--help", check=0)
        self.assertIn("Exit status", r.stdout)
        for cmd in COMMANDS:
            r = self.ps.run(*cmd, "--help", check=0)
            self.assertIn("usage:", r.stdout, cmd)

    def assert_usage_error(self, *args, want=""):
        r = self.ps.run(*args, check=2)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, f"{args}: {r.stderr!r}")
        self.assertIn(want, lines[0])

    def test_usage_errors(self):
        self.assert_usage_error("frobnicate", want="unknown command")
        self.assert_usage_error("run", want="missing the target's NAME")
        self.assert_usage_error("run", "--bogus", "x", want="unknown flag --bogus")
        self.assert_usage_error("migrate", "--dir", want="needs a value")
        self.assert_usage_error("target", "add", "x", "--feed", "f", want="--catalog-id")
        self.assert_usage_error("target", "add", "x", "--feed", "f", "--catalog-id", "abc",
                                "--country", "US", "--language", "en-US", want="digits")
        self.assert_usage_error("target", "add", "x", "--feed", "f", "--catalog-id", "1",
                                "--country", "US", "--language", "en-US", "--format", "yaml",
                                want="--format")
        self.assert_usage_error("target", "nope", want="unknown subcommand")
        self.assert_usage_error("auth", "set", want="--access-token")
        self.assert_usage_error("errors", "x", "--format", "xml", want="--format")
        self.assert_usage_error("status", "a", "b", want="unexpected argument")

    def test_target_add_and_list(self):
        self.ps.run("target", "add", "shop", "--feed", "/tmp/shop.csv", "--catalog-id", "42",
                    "--country", "US", "--language", "en-US", check=0)
        r = self.ps.run("target", "add", "shop", "--feed", "/tmp/x.csv", "--catalog-id", "42",
                        "--country", "US", "--language", "en-US", check=2)
        self.assertIn("already exists", r.stderr)
        out = self.ps.run("target", "list", check=0).stdout
        self.assertIn("shop", out)
        self.assertIn("/tmp/shop.csv", out)
        self.ps.run("run", "nosuchtarget", check=2)

    def test_target_set_options(self):
        self.ps.run("target", "add", "opts", "--feed", "/tmp/o.csv", "--catalog-id", "7",
                    "--country", "DE", "--language", "de-DE", "--currency", "EUR",
                    "--schedule", "15m", check=0)
        self.ps.run("target", "set", "opts", "--on-missing", "out-of-stock",
                    "--max-delete-ratio", "0.5", "--api-owned", "yes", "--feed", "/tmp/p.csv",
                    check=0)
        row = self.pg.psql("SELECT feed, currency, schedule_s, on_missing, max_delete_ratio, "
                           "api_owned FROM targets WHERE name = 'opts'")
        self.assertEqual(row, [["/tmp/p.csv", "EUR", "900", "out-of-stock", "0.5", "t"]])
        self.ps.run("target", "set", "opts", "--currency", "", check=0)
        self.assertEqual(self.pg.psql("SELECT currency IS NULL FROM targets "
                                      "WHERE name = 'opts'"), [["t"]])
        self.assert_usage_error("target", "set", "opts", "--on-missing", "vanish",
                                want="--on-missing")
        self.assert_usage_error("target", "set", "opts", "--schedule", "soon",
                                want="--schedule")
        self.assert_usage_error("target", "set", "opts", "--currency", "euro",
                                want="--currency")
        self.assert_usage_error("target", "set", "opts", want="nothing to set")
        r = self.ps.run("target", "set", "ghost", "--currency", "EUR", check=2)
        self.assertIn("no target named", r.stderr)

    def test_feed_url_password_never_printed(self):
        r = self.ps.run("target", "add", "private", "--feed",
                        "https://shop:hunter2-pw@feeds.example/p.xml", "--catalog-id", "9",
                        "--country", "US", "--language", "en-US", check=0)
        out = r.stdout + r.stderr + self.ps.run("target", "list", check=0).stdout
        self.assertNotIn("hunter2-pw", out)
        self.assertIn("https://shop:***@feeds.example/p.xml", out)
        self.assert_usage_error("target", "set", "private", "--preset", "amazon",
                                want="unknown preset")

    def test_secrets_never_printed(self):
        ps = Pinsync(self.pg, PINSYNC_CLIENT_SECRET="very-secret-client-value",
                     PINSYNC_CLIENT_ID="app1")
        r = ps.run("auth", "set", "--access-token", "tok-access-123456789",
                   "--refresh-token", "tok-refresh-987654321", check=0)
        cfg = ps.run("config", check=0)
        for out in (r.stdout + r.stderr, cfg.stdout + cfg.stderr):
            for secret in ("very-secret-client-value", "tok-access-123456789",
                           "tok-refresh-987654321"):
                self.assertNotIn(secret, out)
        self.assertIn("[redacted]", cfg.stdout)


if __name__ == "__main__":
    unittest.main()
