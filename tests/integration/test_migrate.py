"""`pinsync migrate` against a real PostgreSQL: applied in order, each once,
each in its own transaction; a broken migration rolls back and is named."""

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

    def test_commands_refuse_an_unmigrated_database(self):
        r = self.ps.run("target", "list", check=4)
        self.assertIn("pinsync migrate", r.stderr)

    def test_unreachable_database_is_a_clear_error(self):
        ps = Pinsync(self.pg, PINSYNC_DATABASE_URL="postgresql://pinsync@127.0.0.1:1/pinsync")
        r = ps.run("migrate", check=4)
        self.assertIn("cannot connect to PostgreSQL", r.stderr)


if __name__ == "__main__":
    unittest.main()
