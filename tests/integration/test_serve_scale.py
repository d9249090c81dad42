"""Serve mode scaled out: several `pinsync serve` processes against one
database share the jobs, the scheduler fires once across them, and a job
whose process was killed is taken over once its lease runs out.
"""

import datetime
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_serve import ServeFixture, wait_for  # noqa: E402


def ts(text):
    return datetime.datetime.fromisoformat(text.replace("+00", "+00:00"))


class ScaleTest(ServeFixture):

    def test_three_processes_share_the_work(self):
        targets = {f"shop{i}": self.add_target(f"shop{i}", nitems=4 + i) for i in range(9)}
        # Each sync takes a few polls, so that the work has to spread.
        self.sim.config(processing_polls=4, delay_ms=20)
        servers = [self.serve() for _ in range(3)]
        for rnd in range(2):
            for i, name in enumerate(targets):
                st, _ = servers[(i + rnd) % 3].hook(name)
                self.assertEqual(st, 202)
        for name, (catalog, items) in targets.items():
            wait_for(lambda: self.synced(catalog, items), 45, f"{name} in the simulator")
            self.wait_jobs_finished(name, 30)
        rows = self.pg.psql(
            "SELECT t.name, j.state, j.worker, j.started_at, j.finished_at FROM jobs j"
            " JOIN targets t ON t.id = j.target_id"
            " WHERE j.started_at IS NOT NULL AND t.name LIKE 'shop%'"
            " ORDER BY t.name, j.started_at")
        self.assertTrue(rows)
        # No two jobs of one target overlapped in time.
        by_target = {}
        for name, state, worker, started, finished in rows:
            self.assertEqual(state, "done")
            by_target.setdefault(name, []).append((ts(started), ts(finished)))
        self.assertEqual(sorted(by_target), sorted(targets))
        for name, spans in by_target.items():
            for (s1, f1), (s2, f2) in zip(spans, spans[1:]):
                self.assertLessEqual(f1, s2, f"jobs of {name} overlap")
        # Nor did two runs of one target (the advisory lock's promise).
        runs = self.pg.psql("SELECT t.name, r.started_at, r.finished_at FROM runs r"
                            " JOIN targets t ON t.id = r.target_id WHERE t.name LIKE 'shop%'"
                            " ORDER BY 1, 2")
        spans = {}
        for name, started, finished in runs:
            spans.setdefault(name, []).append((ts(started), ts(finished)))
        for name, sp in spans.items():
            for (s1, f1), (s2, f2) in zip(sp, sp[1:]):
                self.assertLessEqual(f1, s2, f"runs of {name} overlap")
        workers = {r[2] for r in rows}
        self.assertGreaterEqual(len(workers), 2, workers)
        for s in servers:
            self.assertEqual(s.stop(), 0)

    def test_scheduler_fires_once_across_processes(self):
        catalog, items = self.add_target("sched")
        servers = [self.serve() for _ in range(3)]
        self.ps.run("target", "set", "sched", "--schedule", "2s", check=0)
        first = wait_for(lambda: self.pg.psql(
            "SELECT extract(epoch FROM min(j.created_at)) FROM jobs j JOIN targets t"
            " ON t.id = j.target_id WHERE t.name = 'sched' HAVING count(*) > 0"),
            10, "the first scheduled job")
        t0 = float(first[0][0])
        time.sleep(max(0.0, t0 + 5.0 - time.time()))
        self.ps.run("target", "set", "sched", "--schedule", "1d", check=0)
        for s in servers:
            self.assertEqual(s.stop(), 0)
        # Over ~5 s with a 2 s period: runs at about 0, 2 and 4 s; three
        # processes each firing would make three times as many.
        n = int(self.pg.psql(
            "SELECT count(*) FROM jobs j JOIN targets t ON t.id = j.target_id"
            f" WHERE t.name = 'sched' AND j.trigger = 'schedule'"
            f" AND j.created_at <= to_timestamp({t0 + 5.2})")[0][0])
        self.assertGreaterEqual(n, 2)
        self.assertLessEqual(n, 4)
        runs = int(self.pg.psql(
            "SELECT count(*) FROM runs r JOIN targets t ON t.id = r.target_id"
            " WHERE t.name = 'sched' AND r.trigger = 'schedule'")[0][0])
        self.assertLessEqual(runs, 4)
        self.assertGreaterEqual(runs, 2)
        self.assertTrue(self.synced(catalog, items))

    def test_killed_workers_job_is_taken_over_after_its_lease(self):
        catalog, items = self.add_target("orphan", nitems=5)
        # A slow sync: the batch stays PROCESSING for many slow polls.
        self.sim.config(processing_polls=12, delay_ms=150)
        lease = {"PINSYNC_JOB_LEASE_S": "2"}
        a = self.serve(**lease)
        self.assertEqual(a.hook("orphan")[0], 202)
        wait_for(lambda: any(r[2] == "running" for r in self.jobs("orphan")), 10,
                 "the job to run")
        worker_a = self.jobs("orphan")[0][3]
        time.sleep(1.0)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(10)
        killed_at = time.time()
        self.sim.config(processing_polls=1, delay_ms=0)
        b = self.serve(**lease)
        rows = self.wait_jobs_finished("orphan", 30)
        self.assertEqual(len(rows), 1)
        job_id, trigger, state, worker, attempts, error = rows[0]
        self.assertEqual((trigger, state), ("webhook", "done"))
        self.assertNotEqual(worker, worker_a)
        self.assertEqual(attempts, "2")
        self.assertGreaterEqual(time.time() - killed_at, 1.0)  # not before the lease ran out
        wait_for(lambda: self.synced(catalog, items), 20, "the target in the simulator")
        self.assertIn("taken over", b.log())
        self.assertEqual(b.stop(), 0)


if __name__ == "__main__":
    unittest.main()
