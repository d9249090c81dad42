"""pinsync behind pgbouncer (Debian's package), started by the test.

pinsync's locks (one sync per target, the migrations') and its settings
(statement_timeout) live in the server session. Through a pool in session
mode it works as with a direct connection; a pool in transaction or
statement mode hands each transaction to any server connection, so every
command refuses it at connect, naming the cause (db/conn.c), and serve
exits at start instead of waiting for a database that will never do."""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from harness import Pinsync, SyncCase, free_port  # noqa: E402
from test_sync import make_item, write_csv  # noqa: E402


def pgbouncer_binary():
    for cand in ("/usr/sbin/pgbouncer", shutil.which("pgbouncer")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


class Bouncer:
    """One pgbouncer on 127.0.0.1 with a database per pool mode."""

    MODES = ("session", "transaction", "statement")

    def __init__(self, pg):
        self.dir = tempfile.mkdtemp(prefix="pinsync-pgbouncer-")
        self.port = free_port()
        ini = os.path.join(self.dir, "pgbouncer.ini")
        with open(ini, "w") as f:
            f.write("[databases]\n")
            for mode in self.MODES:
                f.write(f"{mode} = host=127.0.0.1 port={pg.port} dbname=pinsync user=pinsync"
                        f" pool_mode={mode}\n")
            f.write("[pgbouncer]\n"
                    f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\n"
                    "unix_socket_dir =\nauth_type = any\n"
                    f"logfile = {self.dir}/pgbouncer.log\n"
                    "default_pool_size = 5\nserver_round_robin = 0\n")
        cmd = [pgbouncer_binary(), ini]
        if os.geteuid() == 0:  # pgbouncer refuses to run as root
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            os.chown(ini, pw.pw_uid, pw.pw_gid)
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("pgbouncer did not start: "
                                       + self.proc.stderr.read().decode(errors="replace"))
                time.sleep(0.1)

    def url(self, mode):
        return f"postgresql://pinsync@127.0.0.1:{self.port}/{mode}"

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class PoolerTest(SyncCase):

    @classmethod
    def setUpClass(cls):
        if pgbouncer_binary() is None:
            # bootstrap.sh installs it: a missing one is a broken set-up.
            raise RuntimeError("pgbouncer not found (apt-get install pgbouncer; "
                               "./bootstrap.sh installs it)")
        super().setUpClass()
        cls.bouncer = Bouncer(cls.pg)

    @classmethod
    def tearDownClass(cls):
        cls.bouncer.stop()
        super().tearDownClass()

    def through(self, mode):
        return Pinsync(self.pg, self.sim, PINSYNC_DATABASE_URL=self.bouncer.url(mode))

    def test_transaction_and_statement_pools_are_refused_by_every_command(self):
        path = os.path.join(self.tmp.name, "refused.csv")
        write_csv(path, [make_item(1)])
        self.ps.run("target", "add", "refused", "--feed", path, "--catalog-id", "1001",
                    "--country", "US", "--language", "en-US", check=0)
        for mode in ("transaction", "statement"):
            ps = self.through(mode)
            for args in (("migrate",), ("status",), ("run", "refused"), ("metrics",)):
                r = ps.run(*args)
                self.assertEqual(r.returncode, 4, (mode, args, r.stdout, r.stderr))
                self.assertIn("pool_mode=session", r.stderr, (mode, args))
                self.assertIn("does not keep a server session of its own", r.stderr)
        # Nothing ran: no run was recorded for the target.
        self.assertEqual(self.pg.psql("SELECT count(*) FROM runs r JOIN targets t"
                                      " ON t.id = r.target_id WHERE t.name = 'refused'"),
                         [["0"]])

    def test_serve_exits_at_start_behind_a_transaction_pool(self):
        ps = self.through("transaction")
        p = subprocess.run([ps.bin, "serve", "--listen", f"127.0.0.1:{free_port()}"],
                           env=dict(ps.env, PINSYNC_SERVE_DB_TIMEOUT_MS="3000"),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn("pool_mode=session", p.stderr)

    def test_session_pool_syncs_and_keeps_one_sync_per_target(self):
        ps = self.through("session")
        path = os.path.join(self.tmp.name, "pooled.csv")
        write_csv(path, [make_item(100 + i) for i in range(5)])
        ps.run("target", "add", "pooled", "--feed", path, "--catalog-id", "1001",
               "--country", "US", "--language", "en-US", check=0)
        ps.run("run", "pooled", check=0)
        self.assertTrue({f"SKU-{100 + i:05d}" for i in range(5)} <= set(self.sim.catalog("1001")))
        # The target's lock held by one session of the pool keeps a second
        # sync out, as on a direct connection.
        holder = subprocess.Popen(
            [os.path.join(self.pg.bindir, "psql"), "-X", "-q", self.bouncer.url("session")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            holder.stdin.write("\\o /dev/null\nSELECT pg_advisory_lock(7405001, id::int) FROM targets"
                               " WHERE name = 'pooled';\n\\echo locked\n")
            holder.stdin.flush()
            self.assertEqual(holder.stdout.readline().strip(), "locked")
            r = ps.run("run", "pooled")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("another pinsync is syncing this target", r.stderr)
        finally:
            holder.stdin.close()
            holder.wait(timeout=10)
            holder.stdout.close()
        ps.run("run", "pooled", check=0)


if __name__ == "__main__":
    unittest.main()
