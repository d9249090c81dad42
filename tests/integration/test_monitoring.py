"""The dashboard and the alerting rules that ship with pinsync (issue 14, item 3):
docker/prometheus/pinsync-rules.yml passes `promtool check rules` and the unit
tests of tests/alerts/pinsync-rules.test.yml, which fire and clear every alert;
docker/grafana/pinsync-dashboard.json is a well-formed dashboard; and every
metric (and label) the rules and the dashboard name is one that `pinsync
serve` really exposes on /metrics.

promtool comes from Debian's prometheus package (bootstrap.sh installs it):
without it these tests fail, they do not skip, so that CI cannot pass
without running them.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_serve import ServeFixture, parse_metrics, wait_for  # noqa: E402
# tests/lib is on the path once test_serve is imported.
from harness import Simulator  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RULES = os.path.join(ROOT, "docker", "prometheus", "pinsync-rules.yml")
RULE_TESTS = os.path.join(ROOT, "tests", "alerts", "pinsync-rules.test.yml")
DASHBOARD = os.path.join(ROOT, "docker", "grafana", "pinsync-dashboard.json")

# Labels Prometheus adds to every scraped series.
SCRAPE_LABELS = {"job", "instance"}

PROMQL_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
                   "group_right", "offset", "bool", "inf", "nan"}


def promtool():
    path = shutil.which("promtool") or "/usr/bin/promtool"
    if not os.access(path, os.X_OK):
        raise AssertionError("promtool is missing: install Debian's prometheus package "
                             "(./bootstrap.sh does); CI must run these checks")
    return path


def run_promtool(*args):
    p = subprocess.run([promtool()] + list(args), cwd=ROOT, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    return p.returncode, p.stdout


def promql_names(expr):
    """(selectors, grouping) of a PromQL expression, Grafana variables allowed:
    selectors is [(metric name, {label names matched})], grouping the label
    names of its by/without/on/ignoring/group_* clauses."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    e = re.sub(r"\[[^\]]*\]", "", e)                      # range and subquery
    e = re.sub(r"\boffset\s+-?[0-9a-z]+", "", e)
    selectors, grouping = [], set()

    def matchers(m):
        name = m.group(1)
        labels = set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", m.group(2)))
        selectors.append((name, labels))
        return " "

    e = re.sub(r"([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}", matchers, e)
    if "{" in e:
        raise AssertionError(f"a selector without a metric name in {expr!r}")

    def clause(m):
        grouping.update(x.strip() for x in m.group(2).split(",") if x.strip())
        return " "

    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", clause, e)
    for m in re.finditer(r"\b([a-zA-Z_:][\w:]*)\b(\s*\()?", e):
        if m.group(2) or m.group(1) in PROMQL_KEYWORDS:
            continue  # a function or an aggregation, or a keyword
        selectors.append((m.group(1), set()))
    return selectors, grouping


def rules():
    with open(RULES, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    return [r for g in doc["groups"] for r in g["rules"]]


def dashboard():
    with open(DASHBOARD, encoding="utf-8") as f:
        return json.load(f)


def queries():
    """(where, PromQL) of every query of the rules and the dashboard."""
    out = [(f"rule {r.get('alert') or r.get('record')}", r["expr"]) for r in rules()]
    d = dashboard()
    for p in d["panels"]:
        for t in p.get("targets", []):
            out.append((f"panel {p['id']} {p['title']!r}", t["expr"]))
    for v in d["templating"]["list"]:
        if v["type"] != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q.strip())
        if not m:
            raise AssertionError(f"variable {v['name']}: not label_values(...): {q!r}")
        # The label must be one the selector's metrics carry.
        out.append((f"variable {v['name']}", f"count by ({m.group(2)}) ({m.group(1)})"))
    return out


class PromqlNamesTest(unittest.TestCase):
    """The extraction the metric check rests on finds what it must."""

    def test_promql_names(self):
        sel, grp = promql_names(
            'max by (job, target) (rate(a_total{result="failure", x=~"$t"}[$__rate_interval]))'
            ' - (b offset 1h or on (job) 0 * c{y!="}"}) > 2 * 3600 unless time() > sum(d)'
            ' without (z)')
        self.assertEqual(sorted((n, sorted(l)) for n, l in sel),
                         [("a_total", ["result", "x"]), ("b", []), ("c", ["y"]), ("d", [])])
        self.assertEqual(grp, {"job", "target", "z"})
        self.assertEqual(promql_names("absent(up)")[0], [("up", set())])

    def test_every_query_names_metrics(self):
        qs = queries()
        self.assertGreater(len(qs), 25)
        for where, expr in qs:
            self.assertTrue(promql_names(expr)[0], f"{where}: no metric in {expr!r}")


class RulesTest(unittest.TestCase):

    def test_promtool_check_rules(self):
        rc, out = run_promtool("check", "rules", RULES)
        self.assertEqual(rc, 0, out)
        self.assertIn("SUCCESS", out)

    def test_promtool_unit_tests_pass(self):
        rc, out = run_promtool("test", "rules", RULE_TESTS)
        self.assertEqual(rc, 0, out)
        self.assertIn("SUCCESS", out)

    def test_rules_say_how_bad_and_what_to_do(self):
        names = [r.get("alert") for r in rules()]
        self.assertEqual(len(names), len(set(names)), names)
        for r in rules():
            name = r.get("alert")
            self.assertTrue(name and name.startswith("Pinsync"), r)
            self.assertRegex(r.get("for", ""), r"^\d+[mh]$", f"{name}: a for: duration")
            self.assertIn(r.get("labels", {}).get("severity"), ("warning", "critical"), name)
            ann = r.get("annotations", {})
            self.assertTrue(ann.get("summary"), f"{name}: no summary")
            # What to do: a pinsync command to run.
            self.assertRegex(ann.get("description", ""), r"`pinsync [a-z]+",
                             f"{name}: the description names no pinsync command")

    def test_unit_tests_fire_and_clear_every_alert(self):
        """Each alert is checked quiet, then firing, then quiet again, in one
        group of tests/alerts, with the rule's own severity."""
        with open(RULE_TESTS, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        self.assertEqual([os.path.normpath(os.path.join(os.path.dirname(RULE_TESTS), p))
                          for p in doc["rule_files"]], [RULES])

        def minutes(t):
            return sum(int(n) * {"s": 1 / 60, "m": 1, "h": 60, "d": 1440}[u]
                       for n, u in re.findall(r"(\d+)([smhd])", t))

        for r in rules():
            name = r["alert"]
            shown = False
            for group in doc["tests"]:
                checks = sorted(((minutes(c["eval_time"]), bool(c.get("exp_alerts")), c)
                                 for c in group.get("alert_rule_test", [])
                                 if c["alertname"] == name), key=lambda x: x[0])
                states = [firing for _, firing, _ in checks]
                if [False, True, False] != [s for i, s in enumerate(states)
                                            if i == 0 or s != states[i - 1]][:3]:
                    continue
                for _, firing, c in checks:
                    for a in c.get("exp_alerts") or []:
                        self.assertEqual(a["exp_labels"].get("severity"),
                                         r["labels"]["severity"], name)
                        self.assertEqual(set(a.get("exp_annotations", {})),
                                         set(r["annotations"]), name)
                shown = True
            self.assertTrue(shown, f"{name}: no test group shows it quiet, firing, then "
                                   "quiet again")


class DashboardTest(unittest.TestCase):

    def test_dashboard_is_well_formed(self):
        d = dashboard()  # parses
        self.assertGreaterEqual(d["schemaVersion"], 37)
        self.assertTrue(d.get("uid") and d.get("title"))
        variables = {v["name"]: v for v in d["templating"]["list"]}
        self.assertEqual(variables["datasource"]["type"], "datasource")
        self.assertEqual(variables["datasource"]["query"], "prometheus")
        target = variables["target"]
        self.assertEqual(target["type"], "query")
        self.assertEqual(target["query"]["query"], "label_values(pinsync_runs_total, target)")
        self.assertEqual(target["datasource"]["uid"], "${datasource}")

        panels = d["panels"]
        self.assertGreaterEqual(len(panels), 15)
        ids = [p.get("id") for p in panels]
        self.assertTrue(all(isinstance(i, int) for i in ids), ids)
        self.assertEqual(len(ids), len(set(ids)), f"panel ids repeat: {ids}")
        cells = {}
        for p in panels:
            what = f"panel {p.get('id')} {p.get('title')!r}"
            self.assertTrue(p.get("title") and p.get("type"), what)
            self.assertEqual(p.get("datasource", {}).get("uid"), "${datasource}", what)
            g = p.get("gridPos")
            self.assertIsNotNone(g, f"{what}: no gridPos")
            for k in ("h", "w", "x", "y"):
                self.assertIsInstance(g.get(k), int, f"{what}: gridPos.{k}")
            self.assertTrue(g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["y"] >= 0, what)
            self.assertLessEqual(g["x"] + g["w"], 24, f"{what}: wider than the grid")
            for cx in range(g["x"], g["x"] + g["w"]):
                for cy in range(g["y"], g["y"] + g["h"]):
                    if (cx, cy) in cells:
                        self.fail(f"{what} overlaps panel {cells[(cx, cy)]}")
                    cells[(cx, cy)] = p["id"]
            targets = p.get("targets")
            self.assertTrue(targets, f"{what}: no targets")
            for t in targets:
                self.assertTrue(t.get("expr", "").strip(), f"{what}: a target without expr")
            refs = [t.get("refId") for t in targets]
            self.assertEqual(len(refs), len(set(refs)), f"{what}: refIds repeat")


class MetricNamesTest(ServeFixture):
    """Every metric and label the rules and the dashboard use is on a real
    /metrics: `pinsync serve` after one sync (so that the families with labels
    have samples), scraped, not read from the sources."""

    def test_rules_and_dashboard_use_exposed_metrics(self):
        # Tokens with a refresh expiry: the family of that gauge has a sample.
        self.ps.run("auth", "set", "--access-token", Simulator.ACCESS_TOKEN,
                    "--refresh-token", Simulator.REFRESH_TOKEN, "--expires-in", "86400",
                    "--refresh-expires-in", "2592000", check=0)
        catalog, items = self.add_target("watched", nitems=3)
        s = self.serve()
        self.assertEqual(s.hook("watched")[0], 202)
        wait_for(lambda: self.synced(catalog, items), 20, "the sync")
        self.wait_jobs_finished("watched")
        st, text = s.get("/metrics")
        self.assertEqual(st, 200)
        families = set(re.findall(r"^# TYPE (\S+) \S+$", text, re.M))
        labels = {}
        for name, lset in parse_metrics(text):
            labels.setdefault(name, set()).update(k for k, _ in lset)
        self.assertIn("pinsync_runs_total", families)
        self.assertEqual(labels["pinsync_runs_total"], {"target", "outcome"})
        problems = []
        for where, expr in queries():
            sel, grouping = promql_names(expr)
            known = set(SCRAPE_LABELS)
            for name, used in sel:
                if name not in families:
                    problems.append(f"{where}: {name} is not on /metrics")
                    continue
                known |= labels.get(name, set())
                for label in used - labels.get(name, set()) - SCRAPE_LABELS:
                    problems.append(f"{where}: {name} has no label {label}")
            for label in grouping - known:
                problems.append(f"{where}: no metric of {expr!r} has a label {label}")
        self.assertEqual(problems, [])
        self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main()
