"""The container files, checked without running a container (test_container_run.py
builds and runs the image with Podman).

- docker/Dockerfile: its build stage installs exactly bootstrap.sh's build
  packages and runs bootstrap's cmake commands; its runtime stage installs
  exactly the Debian packages holding the shared libraries the built binary
  links (DT_NEEDED, resolved with ldd, mapped with dpkg -S), plus CA
  certificates and curl for the health check; a non-root user with a group
  of its own; the health check asks /healthz where PINSYNC_LISTEN says (run
  here with a stand-in curl); port and listen address agree.
- docker/compose.yaml and docker/k8s/*.yaml (parsed with python3-yaml):
  ports, probes, commands and settings agree with each other and with
  pinsync itself (every PINSYNC_* variable is one `pinsync config` knows).
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import REPO, pinsync_binary  # noqa: E402

try:
    import yaml
except ImportError:  # python3-yaml (bootstrap.sh installs it)
    yaml = None

DOCKER = os.path.join(REPO, "docker")
# Runtime packages that are no library of the binary.
RUNTIME_EXTRAS = {"ca-certificates", "curl"}
# In every Debian image (Essential: yes): never installed explicitly.
ESSENTIAL = {"libc6"}
# Sanitizer runtimes of an ASan build (the test suite runs one too).
SANITIZER = re.compile(r"^lib(asan|ubsan|lsan|tsan)\.so")


def dockerfile_stages():
    """[(from line, [(INSTRUCTION, argument text)])] with continuations joined."""
    with open(os.path.join(DOCKER, "Dockerfile"), encoding="utf-8") as f:
        text = f.read()
    lines, cur = [], ""
    for raw in text.splitlines():
        if not cur and (raw.strip().startswith("#") or not raw.strip()):
            continue
        if raw.rstrip().endswith("\\"):
            cur += raw.rstrip()[:-1] + " "
            continue
        lines.append(cur + raw)
        cur = ""
    stages = []
    for line in lines:
        instr, _, arg = line.strip().partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            stages.append((arg.strip(), []))
        else:
            stages[-1][1].append((instr, arg.strip()))
    return stages


def apt_packages(run_arg):
    """Packages of the apt-get install in a RUN line."""
    m = re.search(r"apt-get install ((?:\S+ +)+?)(&&|$)", run_arg + " ")
    assert m, run_arg
    return [w for w in m.group(1).split() if not w.startswith("-")]


def bootstrap_packages():
    """(build packages, test-only packages) of bootstrap.sh's list."""
    with open(os.path.join(REPO, "bootstrap.sh"), encoding="utf-8") as f:
        text = f.read()
    block = re.search(r"^packages=\((.*?)^\)", text, re.S | re.M).group(1)
    build, tests, part = [], [], None
    part = build
    for line in block.splitlines():
        if "test-only" in line:
            part = tests
            continue
        part += line.split("#")[0].split()
    return build, tests


def bootstrap_cmake():
    with open(os.path.join(REPO, "bootstrap.sh"), encoding="utf-8") as f:
        text = f.read()
    configure = re.search(r"^cmake -S \. -B build .*$", text, re.M).group(0)
    build = re.search(r"^cmake --build build .*$", text, re.M).group(0)
    return configure, build


def package_of(path):
    """The Debian package that holds a file (usrmerge: try both spellings)."""
    cands = [path, os.path.realpath(path)]
    for c in list(cands):
        if c.startswith("/usr/lib/"):
            cands.append(c[4:])
        elif c.startswith("/lib/"):
            cands.append("/usr" + c)
    for c in cands:
        p = subprocess.run(["dpkg", "-S", c], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        if p.returncode == 0:
            return p.stdout.split(":")[0].strip()
    raise AssertionError(f"no Debian package holds {path}")


def needed_packages(binary):
    """Packages of the sonames the binary links directly (DT_NEEDED)."""
    dyn = subprocess.run(["objdump", "-p", binary], check=True, stdout=subprocess.PIPE,
                         text=True).stdout
    needed = re.findall(r"^\s*NEEDED\s+(\S+)", dyn, re.M)
    ldd = subprocess.run(["ldd", binary], check=True, stdout=subprocess.PIPE,
                         text=True).stdout
    where = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
    out = {}
    for so in needed:
        if SANITIZER.match(so):
            continue
        out[so] = package_of(where[so])
    return out


class DockerfileTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.stages = dockerfile_stages()

    def test_two_stages_on_debian_12_slim(self):
        self.assertEqual(len(self.stages), 2)
        self.assertEqual(self.stages[0][0], "debian:12-slim AS build")
        self.assertEqual(self.stages[1][0], "debian:12-slim")

    def test_build_stage_installs_bootstraps_build_packages(self):
        build, tests = bootstrap_packages()
        self.assertIn("libmicrohttpd-dev", build)
        self.assertIn("prometheus", tests)
        runs = [a for i, a in self.stages[0][1] if i == "RUN" and "apt-get install" in a]
        self.assertEqual(len(runs), 1)
        self.assertEqual(apt_packages(runs[0]), build)

    def test_build_stage_runs_bootstraps_cmake_commands(self):
        configure, build = bootstrap_cmake()
        runs = " && ".join(a for i, a in self.stages[0][1] if i == "RUN")
        steps = [s.strip() for s in runs.split("&&")]
        dconf = [s for s in steps if s.startswith("cmake -S")]
        dbuild = [s for s in steps if s.startswith("cmake --build")]
        self.assertEqual(len(dconf), 1)
        self.assertEqual(len(dbuild), 1)
        # bootstrap: warnings fatal only for `test`, output hidden; the image
        # builds without the tests (no cmocka in it).
        want = shlex.split(configure.split(">")[0].replace("$werror", "OFF"))
        self.assertEqual(shlex.split(dconf[0]), want + ["-DPINSYNC_TESTS=OFF"])
        self.assertEqual(shlex.split(dbuild[0])[:3], shlex.split(build)[:3])
        # Whatever the build reads is copied in.
        copied = " ".join(a for i, a in self.stages[0][1] if i == "COPY")
        for d in ("CMakeLists.txt", "db", "feeds", "migrations", "sync"):
            self.assertIn(d, copied.split())

    def test_runtime_stage_installs_exactly_the_linked_libraries(self):
        binary = pinsync_binary()
        if shutil.which("objdump") is None or shutil.which("dpkg") is None:
            self.skipTest("objdump or dpkg missing")
        linked = needed_packages(binary)
        want = set(linked.values()) - ESSENTIAL
        runs = [a for i, a in self.stages[1][1] if i == "RUN" and "apt-get install" in a]
        self.assertEqual(len(runs), 1)
        got = apt_packages(runs[0])
        self.assertEqual(len(got), len(set(got)))
        self.assertEqual(set(got) - RUNTIME_EXTRAS, want, linked)
        # Only runtime libraries: no compiler, no -dev package.
        self.assertFalse([p for p in got if p.endswith("-dev")])

    def test_runtime_user_port_health_and_command(self):
        instrs = self.stages[1][1]
        user = [a for i, a in instrs if i == "USER"]
        self.assertEqual(len(user), 1)
        self.assertNotIn(user[0].split(":")[0], ("root", "0"))
        env = " ".join(a for i, a in instrs if i == "ENV")
        listen = re.search(r"PINSYNC_LISTEN=(\S+)", env).group(1)
        self.assertEqual(listen, "0.0.0.0:8080")
        port = listen.rsplit(":", 1)[1]
        self.assertEqual([a for i, a in instrs if i == "EXPOSE"], [port])
        health = [a for i, a in instrs if i == "HEALTHCHECK"]
        self.assertEqual(len(health), 1)
        self.assertEqual(self.health_urls(health[0], ["0.0.0.0:" + port]),
                         [f"http://127.0.0.1:{port}/healthz"])
        self.assertEqual([a for i, a in instrs if i == "ENTRYPOINT"], ['["pinsync"]'])
        self.assertEqual([a for i, a in instrs if i == "CMD"], ['["serve"]'])
        copy = [a for i, a in instrs if i == "COPY"]
        self.assertEqual(copy, ["--from=build /src/build/sync/pinsync /usr/local/bin/pinsync"])

    def health_urls(self, healthcheck, listens):
        """What the HEALTHCHECK's command asks curl for, for each PINSYNC_LISTEN:
        its exec form run here with a curl that prints its URL."""
        cmd = json.loads(healthcheck.split(" CMD ", 1)[1])
        self.assertIn("curl", " ".join(cmd))
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "curl"), "w") as f:
                f.write('#!/bin/sh\nfor a; do case $a in http*) echo "$a" ;; esac; done\n')
            os.chmod(os.path.join(d, "curl"), 0o755)
            return [subprocess.run(cmd, env={"PATH": d + ":/usr/bin:/bin", "PINSYNC_LISTEN": l},
                                   check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
                    for l in listens]

    def test_health_check_asks_where_pinsync_listens(self):
        # The image's PINSYNC_LISTEN changed (-e, compose, Kubernetes): the
        # container stays healthy on another port or address.
        (health,) = [a for i, a in self.stages[1][1] if i == "HEALTHCHECK"]
        cases = {"0.0.0.0:8080": "http://127.0.0.1:8080/healthz",
                 "0.0.0.0:9100": "http://127.0.0.1:9100/healthz",
                 ":9101": "http://127.0.0.1:9101/healthz",
                 "127.0.0.1:9102": "http://127.0.0.1:9102/healthz",
                 "10.1.2.3:9103": "http://10.1.2.3:9103/healthz",
                 "[::]:9104": "http://[::1]:9104/healthz",
                 "[::1]:9105": "http://[::1]:9105/healthz"}
        self.assertEqual(self.health_urls(health, list(cases)), list(cases.values()))

    def test_runtime_user_has_its_own_group(self):
        # USER uid:gid names a user and a group that exist, with those ids
        # (useradd --user-group would give the group a system gid instead).
        instrs = self.stages[1][1]
        (user,) = [a for i, a in instrs if i == "USER"]
        uid, gid = user.split(":")
        run = " && ".join(a for i, a in instrs if i == "RUN")
        steps = [shlex.split(x) for x in run.split("&&")]
        groupadd = [x for x in steps if x[0] == "groupadd"]
        useradd = [x for x in steps if x[0] == "useradd"]
        self.assertEqual(len(groupadd), 1)
        self.assertEqual(len(useradd), 1)
        self.assertEqual(groupadd[0][groupadd[0].index("--gid") + 1], gid)
        self.assertEqual(useradd[0][useradd[0].index("--uid") + 1], uid)
        self.assertEqual(useradd[0][useradd[0].index("--gid") + 1], gid)
        self.assertNotIn("--user-group", useradd[0])


def known_settings():
    """The PINSYNC_* variables pinsync reads: the settings' and *_FILE forms."""
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("PINSYNC_") and k not in ("PINSYNC_BIN", "PINSYNC_SHARED_DIR"):
            del env[k]
    out = subprocess.run([pinsync_binary(), "config"], env=env, check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    names = set(re.findall(r"\((PINSYNC_[A-Z0-9_]+);", out))
    # The secrets (which also come as *_FILE): the database URL and secrets.
    secret = {n for n in names if re.search(r"SECRET|DATABASE_URL", n)}
    return names | {n + "_FILE" for n in secret}


@unittest.skipIf(yaml is None, "python3-yaml is not installed")
class DeploymentFilesTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.settings = known_settings()

    def load(self, *path):
        with open(os.path.join(DOCKER, *path), encoding="utf-8") as f:
            return [d for d in yaml.safe_load_all(f) if d]

    def check_env(self, env, where):
        for name in env:
            if name.startswith("PINSYNC_"):
                self.assertIn(name, self.settings, f"{where}: unknown setting {name}")

    def test_compose(self):
        (doc,) = self.load("compose.yaml")
        svc = doc["services"]
        self.assertEqual(set(svc), {"db", "pinsync", "pinsim"})
        self.assertEqual(svc["db"]["image"], "postgres:15")
        ps = svc["pinsync"]
        self.assertEqual(ps["build"]["dockerfile"], "docker/Dockerfile")
        self.assertTrue(os.path.exists(os.path.join(DOCKER, ps["build"]["context"],
                                                    ps["build"]["dockerfile"])))
        script = " ".join(ps["entrypoint"] + ps["command"])
        self.assertRegex(script, r"pinsync migrate && exec pinsync serve")
        env = ps["environment"]
        self.check_env(env, "compose pinsync")
        port = env["PINSYNC_LISTEN"].rsplit(":", 1)[1]
        self.assertEqual([p.rsplit(":", 1)[1] for p in ps["ports"]], [port])
        self.assertEqual(ps["depends_on"]["db"]["condition"], "service_healthy")
        # Secrets come as files, and the files exist.
        for k, v in env.items():
            if k.endswith("_FILE"):
                name = v.rsplit("/", 1)[1]
                self.assertIn(name, ps["secrets"])
                self.assertTrue(os.path.exists(
                    os.path.join(DOCKER, doc["secrets"][name]["file"])))
        for k in env:
            self.assertFalse(re.search(r"SECRET$|DATABASE_URL$", k), f"{k} given inline")
        # The simulator: python:3 running the repository's pinsim.py, in
        # pinsync's network namespace (it listens on 127.0.0.1 only), on the
        # port PINSYNC_API_BASE names.
        sim = svc["pinsim"]
        self.assertEqual(sim["image"], "python:3")
        self.assertEqual(sim["network_mode"], "service:pinsync")
        self.assertIn("tests/pinsim/pinsim.py", sim["command"])
        self.assertTrue(os.path.exists(os.path.join(REPO, "tests/pinsim/pinsim.py")))
        sim_port = sim["command"][sim["command"].index("--port") + 1]
        self.assertEqual(env["PINSYNC_API_BASE"], f"http://127.0.0.1:{sim_port}/v5")

    def container_env(self, c):
        return {e["name"]: e.get("value") for e in c.get("env", [])}

    def check_secret_files(self, pod, c, where):
        mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
        secret_vols = {v["name"] for v in pod.get("volumes", []) if "secret" in v}
        env = self.container_env(c)
        self.check_env(env, where)
        for k, v in env.items():
            self.assertFalse(re.search(r"SECRET$|DATABASE_URL$", k), f"{where}: {k} inline")
            if k.endswith("_FILE"):
                self.assertTrue(any(v.startswith(mounts[n] + "/") for n in secret_vols
                                    if n in mounts), f"{where}: {k} not in a Secret mount")

    def test_k8s_deployment(self):
        docs = self.load("k8s", "deployment.yaml")
        kinds = {d["kind"]: d for d in docs}
        self.assertEqual(set(kinds), {"Deployment", "Service"})
        pod = kinds["Deployment"]["spec"]["template"]["spec"]
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertGreaterEqual(pod["terminationGracePeriodSeconds"], 60)
        (c,) = pod["containers"]
        self.assertEqual(c["args"], ["serve"])
        env = self.container_env(c)
        port = int(env["PINSYNC_LISTEN"].rsplit(":", 1)[1])
        self.assertEqual([p["containerPort"] for p in c["ports"]], [port])
        self.assertEqual(c["readinessProbe"]["httpGet"], {"path": "/readyz", "port": port})
        self.assertEqual(c["livenessProbe"]["httpGet"], {"path": "/healthz", "port": port})
        self.check_secret_files(pod, c, "deployment")
        for ic in pod.get("initContainers", []):
            self.assertEqual(ic["args"], ["migrate"])
            self.check_secret_files(pod, ic, "migrate")
        svc = kinds["Service"]["spec"]
        self.assertEqual(svc["selector"], kinds["Deployment"]["spec"]["selector"]["matchLabels"])
        self.assertEqual([p["targetPort"] for p in svc["ports"]], [port])

    def test_k8s_cronjob(self):
        (doc,) = self.load("k8s", "cronjob.yaml")
        self.assertEqual(doc["kind"], "CronJob")
        self.assertEqual(doc["spec"]["concurrencyPolicy"], "Forbid")
        pod = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        self.assertEqual(c["args"][0], "run")
        self.assertEqual(len(c["args"]), 2)
        self.check_secret_files(pod, c, "cronjob")


if __name__ == "__main__":
    unittest.main()
