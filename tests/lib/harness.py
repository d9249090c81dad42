"""Test harness for pinsync's integration tests.

Starts what a test needs and stops it afterwards, also when the test fails:

- PgCluster: a throwaway PostgreSQL 15 cluster (initdb in a temporary
  folder, a free port on 127.0.0.1, a unix socket in its own folder). As root
  the server runs as the unprivileged `postgres` user, since initdb and
  postgres refuse to run as root.
- Simulator: the Pinterest API simulator (tests/pinsim/pinsim.py) on a free
  port of 127.0.0.1, with helpers for its control API. It checks every request
  against the project's contract, and against Pinterest's full OpenAPI
  description too when SPEC is there (checks() says which).
- Pinsync: runs the pinsync binary with the environment pointing at both.

Everything talks only to 127.0.0.1. Python standard library only.
"""

import atexit
import glob
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The shared folder: PINSYNC_SHARED_DIR when set (the only place looked at, as pinsim and
# CMake do; empty counts as unset), else ../shared beside the checkout.  It may be absent:
# the simulator then checks requests against the project's contract alone.
SHARED = os.environ.get("PINSYNC_SHARED_DIR") or os.path.join(os.path.dirname(REPO), "shared")
SPEC = os.path.join(SHARED, "pinterest-api", "openapi.json")
REAL_FEEDS = os.path.join(SHARED, "feeds", "real")
# The project's own specimen feeds, always there (INDEX.md there says what
# reading each must give); the real feeds above are an extra layer.
SPECIMENS = os.path.join(REPO, "tests", "fixtures", "feeds", "specimens")


def pinsync_binary():
    """The pinsync executable under test (PINSYNC_BIN, else build/)."""
    path = os.environ.get("PINSYNC_BIN", os.path.join(REPO, "build", "sync", "pinsync"))
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"pinsync binary not found at {path}: build first or set PINSYNC_BIN")
    return path


PS_LIST_SEP = "\x1f"  # feeds.h: how an item joins the values of a list attribute


def attribute_text(value):
    """A Pinterest attribute value (JSON) as pinsync's item holds it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return PS_LIST_SEP.join(value)
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return value


def fingerprint(attrs):
    """What a snapshot row's fingerprint must say for Pinterest's attributes
    attrs: {32-bit name hash: 32-bit value hash} (sync/changes.h)."""
    import xxhash  # python3-xxhash; imported here so that other tests need not have it

    def h32(text):
        return xxhash.xxh3_64_intdigest(text.encode()) & 0xFFFFFFFF
    return {h32(k): h32(attribute_text(v)) for k, v in attrs.items()}


def parse_fingerprint(hexdigits):
    """A snapshot fingerprint (bytea as hex) as {name hash: value hash}."""
    raw = bytes.fromhex(hexdigits)
    assert len(raw) % 8 == 0, hexdigits
    return {int.from_bytes(raw[i:i + 4], "big"): int.from_bytes(raw[i + 4:i + 8], "big")
            for i in range(0, len(raw), 8)}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        assert m, f"bad sample line: {line!r}"
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(4))
    return out


def pg_bindir():
    for cand in [os.environ.get("PINSYNC_PG_BINDIR", "")] + sorted(
            glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if cand and os.path.exists(os.path.join(cand, "initdb")):
            return cand
    found = shutil.which("initdb")
    if found:
        return os.path.dirname(found)
    raise RuntimeError("PostgreSQL server binaries (initdb) not found: run ./bootstrap.sh")


class PgCluster:
    """A PostgreSQL cluster of its own, for one test module."""

    def __init__(self, parent=None):
        """parent: folder to create the cluster in (default: a temporary one)."""
        self.bindir = pg_bindir()
        if parent:
            os.makedirs(parent, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="pinsync-pg-", dir=parent)
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.log = os.path.join(self.dir, "server.log")
        self.port = None
        self.running = False
        self.as_user = None
        if os.geteuid() == 0:
            self.as_user = "postgres"
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.makedirs(self.sock)
        if self.as_user:
            os.chown(self.sock, pw.pw_uid, pw.pw_gid)
        atexit.register(self.destroy)

    def _cmd(self, args):
        if self.as_user:
            return ["runuser", "-u", self.as_user, "--"] + args
        return args

    def _run(self, args, **kw):
        return subprocess.run(self._cmd(args), check=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, **kw)

    def start(self):
        self._run([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "pinsync",
                   "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        self.port = free_port()
        self.pg_ctl("start")
        self._run([os.path.join(self.bindir, "createdb"), "-h", "127.0.0.1", "-p",
                   str(self.port), "-U", "pinsync", "pinsync"])
        return self

    def pg_ctl(self, action, mode="fast"):
        args = [os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-w", "-l", self.log]
        if action in ("start", "restart"):
            opts = (f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 "
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
            args += ["-o", opts]
        if action in ("stop", "restart"):
            args += ["-m", mode]
        args.append(action)
        self._run(args)
        self.running = action != "stop"

    @property
    def url(self):
        return f"postgresql://pinsync@127.0.0.1:{self.port}/pinsync"

    def psql(self, sql):
        """Runs sql and returns the rows as lists of strings (unaligned)."""
        out = subprocess.run(
            [os.path.join(self.bindir, "psql"), "-X", "-q", "-A", "-t", "-F", "\t",
             "-v", "ON_ERROR_STOP=1", self.url, "-c", sql],
            check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True).stdout
        return [line.split("\t") for line in out.splitlines() if line != ""]

    def processes(self):
        """{pid: its /proc stat fields after the command} of the postmaster
        and every process it started now (empty when it is not running)."""
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                master = int(f.readline())
        except (OSError, ValueError):
            return {}
        out = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(entry) == master or int(fields[1]) == master:
                out[int(entry)] = fields
        return out

    def destroy(self):
        if self.running:
            try:
                self.pg_ctl("stop", mode="immediate")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.destroy()


class Simulator:
    """The Pinterest API simulator, as a subprocess."""

    CLIENT_ID = "pinsim-app"
    CLIENT_SECRET = "pinsim-secret"
    ACCESS_TOKEN = "sim-access-0"
    REFRESH_TOKEN = "sim-refresh-0"

    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="pinsync-sim-")
        ready = os.path.join(self.dir, "port")
        self.log = open(os.path.join(self.dir, "sim.log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(REPO, "tests", "pinsim", "pinsim.py"), "--port", "0",
             "--ready-file", ready] + list(args),
            stdout=self.log, stderr=subprocess.STDOUT)
        atexit.register(self.stop)
        deadline = time.time() + 30
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("the simulator did not start: see " + self.log.name)
            time.sleep(0.02)
        with open(ready) as f:
            self.port = int(f.read().strip())
        self.base = f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self):
        return self.base + "/v5"

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read().decode()
            return json.loads(text) if text else None

    def requests(self):
        return self._call("GET", "/_sim/requests")

    def checks(self):
        """What requests are checked against: {"layers": ["contract"] or ["contract",
        "full-spec"], "contract", "spec" (path or None), "summary"}."""
        return self._call("GET", "/_sim/checks")

    def clear_requests(self):
        self._call("POST", "/_sim/requests/clear", {})

    def batch_posts(self):
        """Bodies of every POST /v5/catalogs/items/batch received."""
        return [r["body"] for r in self.requests()
                if r["method"] == "POST" and r["path"] == "/v5/catalogs/items/batch"]

    def catalog(self, catalog_id="1001"):
        return self._call("GET", f"/_sim/catalog?catalog_id={catalog_id}")["items"]

    def add_catalog(self, catalog_id, name=None, feed_source=False):
        """Creates a RETAIL catalog (1001 exists from the start), with a feed data
        source when feed_source is true (Pinterest then refuses UPSERT items)."""
        return self._call("POST", "/_sim/catalogs",
                          {"id": str(catalog_id), "name": name or f"catalog {catalog_id}",
                           "feed_source": bool(feed_source)})

    def set_feed_source(self, catalog_id, on=True):
        """Gives an existing catalog a feed data source, or takes it away."""
        return self._call("POST", "/_sim/catalogs/feed_source",
                          {"catalog_id": str(catalog_id), "feed_source": bool(on)})

    def catalogs(self):
        """The simulator's catalogs: [{"id", "name", "feed_source"}], oldest first."""
        return self._call("GET", "/_sim/catalogs")

    def edit_catalog(self, catalog_id="1001", delete=None, set=None, put=None):
        """Changes items as someone outside pinsync would: delete [item_id], set
        {item_id: {attr: value or None}} on existing items, put {item_id: {"attributes":
        {...}, "country", "language"}}. Returns {"deleted", "set", "put"} (counts)."""
        body = {k: v for k, v in (("delete", delete), ("set", set), ("put", put))
                if v is not None}
        return self._call("POST", f"/_sim/catalog/items?catalog_id={catalog_id}", body)

    def config(self, **settings):
        return self._call("POST", "/_sim/config", settings)

    def tokens(self):
        return self._call("GET", "/_sim/tokens")

    def token_posts(self):
        """Every POST /v5/oauth/token received (refresh attempts), oldest first."""
        return [r for r in self.requests()
                if r["method"] == "POST" and r["path"] == "/v5/oauth/token"]

    def reset(self):
        """Back to the start-up state: catalogs, batches, tokens, log, knobs."""
        self._call("POST", "/_sim/reset", {})

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Pinsync:
    """Runs pinsync against a cluster and a simulator."""

    def __init__(self, pg, sim=None, **env):
        self.bin = pinsync_binary()
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("PINSYNC_") and k not in ("PINSYNC_BIN", "PINSYNC_SHARED_DIR"):
                del self.env[k]
        self.env.update({
            "PINSYNC_DATABASE_URL": pg.url,
            "PINSYNC_POLL_INITIAL_MS": "20",
            "PINSYNC_POLL_MAX_MS": "100",
            "PINSYNC_MAX_RETRY_S": "5",
            "PINSYNC_LOG_FORMAT": "json",
        })
        if sim is not None:
            self.env.update({
                "PINSYNC_API_BASE": sim.api_base,
                "PINSYNC_CLIENT_ID": sim.CLIENT_ID,
                "PINSYNC_CLIENT_SECRET": sim.CLIENT_SECRET,
            })
        self.env.update(env)

    def run(self, *args, check=None, input=None, timeout=300):
        """Runs pinsync ARGS; returns the CompletedProcess. check: expected
        exit status (an AssertionError with the output otherwise)."""
        p = subprocess.run([self.bin] + list(args), env=self.env, input=input,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
        if check is not None and p.returncode != check:
            raise AssertionError(
                f"pinsync {' '.join(args)} exited {p.returncode}, expected {check}\n"
                f"--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}")
        return p


class SyncCase(unittest.TestCase):
    """A test class with its own PostgreSQL cluster, simulator and migrated
    database, and the simulator's start-up tokens stored (store_tokens =
    False leaves that to the tests). Subclasses set SIM_ARGS to start the
    simulator with other options."""

    SIM_ARGS = ("--processing-polls", "1")
    store_tokens_at_start = True

    @classmethod
    def setUpClass(cls):
        cls.pg = PgCluster().start()
        cls.sim = Simulator(*cls.SIM_ARGS)
        cls.tmp = tempfile.TemporaryDirectory(prefix="pinsync-test-")
        cls.ps = Pinsync(cls.pg, cls.sim)
        cls.ps.run("migrate", check=0)
        if cls.store_tokens_at_start:
            cls.ps.run("auth", "set", "--access-token", Simulator.ACCESS_TOKEN,
                       "--refresh-token", Simulator.REFRESH_TOKEN, "--expires-in", "86400",
                       check=0)

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()
        cls.pg.destroy()
        cls.tmp.cleanup()
