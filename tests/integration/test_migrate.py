"""`pinsync migrate` against a real PostgreSQL: applied in order, each once,
each in its own transaction; a broken migration rolls back and is named."""

import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import REPO, PgCluster, Pinsync  # noqa: E402


class MigrateTest(unittest.TestCase):

    def setUp(self):
        self.pg = PgCluster().start()
        self.ps = Pinsync(self.pg)
        self.tmp = tempfile.mkdtemp(prefix="pinsync-mig-")

    def tearDown(self):
        self.pg.destroy()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def migrations(self):
        return sorted(f for f in os.listdir(os.path.join(REPO, "migrations"))
                      if f.endswith(".sql"))

    def assert_applied_from(self, first, stdout):
        """`pinsync migrate` applied migration first and every one after it
        (a count, so that a new migration does not break the test)."""
        n = len([f for f in self.migrations() if f >= first])
        self.assertRegex(stdout, r"\b%d migrations? applied" % n)

    def test_twice_is_a_no_op(self):
        r = self.ps.run("migrate", check=0)
        n = len(self.migrations())
        self.assertIn(f"{n} migration", r.stdout)
        rows = self.pg.psql("SELECT name FROM schema_migrations ORDER BY version")
        self.assertEqual([r[0] for r in rows], self.migrations())
        before = self.pg.psql("SELECT version, applied_at FROM schema_migrations")
        r = self.ps.run("migrate", check=0)
        self.assertIn("0 migrations applied", r.stdout)
        self.assertEqual(self.pg.psql("SELECT version, applied_at FROM schema_migrations"),
                         before)

    def test_broken_migration_rolls_back_and_is_named(self):
        for f in self.migrations():
            shutil.copy(os.path.join(REPO, "migrations", f), self.tmp)
        with open(os.path.join(self.tmp, "0900_broken.sql"), "w") as f:
            f.write("CREATE TABLE half_done (x int);\n"
                    "INSERT INTO half_done VALUES (1);\n"
                    "SELECT no_such_column FROM half_done;\n")
        r = self.ps.run("migrate", "--dir", self.tmp, check=4)
        self.assertIn("0900_broken.sql", r.stderr)
        self.assertIn("no_such_column", r.stderr)
        # The earlier migrations are in; the broken one left nothing behind.
        self.assertEqual(self.pg.psql("SELECT to_regclass('half_done') IS NULL"), [["t"]])
        names = [r[0] for r in self.pg.psql("SELECT name FROM schema_migrations")]
        self.assertNotIn("0900_broken.sql", names)
        self.assertEqual(sorted(names), self.migrations())
        # Fixed, it applies, and only it.
        with open(os.path.join(self.tmp, "0900_broken.sql"), "w") as f:
            f.write("CREATE TABLE half_done (x int);\n")
        r = self.ps.run("migrate", "--dir", self.tmp, check=0)
        self.assertIn("1 migration applied", r.stdout)

    def test_narrow_journal_keeps_what_was_journaled(self):
        """0006 moves the journal to one body per batch and results to their own
        table: a batch planned before it can still be read back and resent."""
        for f in self.migrations():
            if f < "0006":
                shutil.copy(os.path.join(REPO, "migrations", f), self.tmp)
        self.ps.run("migrate", "--dir", self.tmp, check=0)
        self.pg.psql(
            "INSERT INTO targets (name, feed, catalog_id, country, language)"
            " VALUES ('t', 'f.xml', '42', 'US', 'en-US');"
            "INSERT INTO runs (target_id) VALUES (1);"
            "INSERT INTO batches (run_id, target_id, seq, item_count, state)"
            " VALUES (1, 1, 1, 3, 'sent');"
            "INSERT INTO batch_items (batch_pk, item_id, operation, hash, attributes,"
            " update_mask, status, errors) VALUES"
            " (1, 'A', 'CREATE', 1, '{\"title\": \"Mug\"}', NULL, 'SUCCESS', NULL),"
            " (1, 'B', 'UPDATE', 2, '{\"price\": \"2.00 USD\"}', '[\"price\"]', 'FAILURE',"
            "  '[{\"code\": 109}]'),"
            " (1, 'C', 'DELETE', 0, NULL, NULL, NULL, NULL);"
            "INSERT INTO snapshot_items (target_id, item_id, hash, attributes)"
            " VALUES (1, 'A', 1, '{\"title\": \"Mug\"}')")
        r = self.ps.run("migrate", check=0)
        self.assert_applied_from("0006", r.stdout)
        body = json.loads(self.pg.psql("SELECT body FROM batches WHERE id = 1")[0][0])
        self.assertEqual((body["catalog_id"], body["country"], body["language"]),
                         ("42", "US", "en-US"))
        self.assertEqual(body["items"], [
            {"operation": "CREATE", "item_id": "A", "attributes": {"title": "Mug"}},
            {"operation": "UPDATE", "item_id": "B", "attributes": {"price": "2.00 USD"},
             "update_mask": ["price"]},
            {"operation": "DELETE", "item_id": "C"}])
        self.assertEqual(self.pg.psql(
            "SELECT item_id, operation, status, errors::text FROM batch_item_results"
            " ORDER BY item_id"),
            [["A", "CREATE", "SUCCESS", ""], ["B", "UPDATE", "FAILURE", '[{"code": 109}]'],
             ["C", "DELETE", "", ""]])
        # The snapshot row stays, without a fingerprint: sent whole when it changes.
        self.assertEqual(self.pg.psql("SELECT item_id, hash, fp IS NULL FROM snapshot_items"),
                         [["A", "1", "t"]])
        # Deleting a target still takes its journal and snapshot with it.
        self.pg.psql("DELETE FROM targets WHERE name = 't'")
        self.assertEqual(self.pg.psql(
            "SELECT (SELECT count(*) FROM snapshot_items), (SELECT count(*) FROM batches),"
            " (SELECT count(*) FROM batch_items), (SELECT count(*) FROM batch_results)"),
            [["0", "0", "0", "0"]])

    def test_convergence_keeps_an_explicit_api_owned_only(self):
        """0007: api_owned becomes an override of the feed-source check. false
        was everyone's default, so it becomes 'follow the check' (NULL); an
        explicit yes stays."""
        for f in self.migrations():
            if f < "0007":
                shutil.copy(os.path.join(REPO, "migrations", f), self.tmp)
        self.ps.run("migrate", "--dir", self.tmp, check=0)
        self.pg.psql(
            "INSERT INTO targets (name, feed, catalog_id, country, language, api_owned)"
            " VALUES ('plain', 'f.xml', '42', 'US', 'en-US', false),"
            " ('owned', 'g.xml', '43', 'US', 'en-US', true)")
        r = self.ps.run("migrate", check=0)
        self.assert_applied_from("0007", r.stdout)
        self.assertEqual(self.pg.psql(
            "SELECT name, coalesce(api_owned::text, 'auto'), feed_source IS NULL"
            " FROM targets ORDER BY name"),
            [["owned", "true", "t"], ["plain", "auto", "t"]])
        out = self.ps.run("target", "list", check=0).stdout
        self.assertRegex(out, r"owned .*unchecked \(override: api-owned\)")
        self.assertRegex(out, r"plain .*unchecked ")
        # The new states and triggers are accepted.
        self.pg.psql("INSERT INTO runs (target_id) VALUES (1);"
                     "INSERT INTO batches (run_id, target_id, seq, item_count, state)"
                     " VALUES (1, 1, 1, 0, 'split');"
                     "INSERT INTO jobs (target_id, trigger) VALUES (1, 'reconcile')")

    def test_commands_refuse_an_unmigrated_database(self):
        r = self.ps.run("target", "list", check=4)
        self.assertIn("pinsync migrate", r.stderr)

    def test_unreachable_database_is_a_clear_error(self):
        ps = Pinsync(self.pg, PINSYNC_DATABASE_URL="postgresql://pinsync@127.0.0.1:1/pinsync")
        r = ps.run("migrate", check=4)
        self.assertIn("cannot connect to PostgreSQL", r.stderr)


if __name__ == "__main__":
    unittest.main()
