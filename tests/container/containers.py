#!/usr/bin/env python3
"""Podman for pinsync's container test, on machines with no container registry.

tests/integration/test_container_run.py imports this module; it also runs alone:

    python3 tests/container/containers.py check   # can containers run here? if not, why
    python3 tests/container/containers.py image   # the base image, then pinsync's (cached)
    eval "$(python3 tests/container/containers.py env)"   # then podman by hand
    python3 tests/container/containers.py compose-images  # compose.yaml's images

- Podman runs with a configuration of its own (CONTAINERS_CONF,
  CONTAINERS_STORAGE_CONF): containers.conf and storage.conf beside this file,
  copied into the cache with this machine's values filled in.
- The base image, debian:12-slim, is made here: no registry is reachable, Debian's
  packages are. mmdebstrap --variant=minbase bookworm from the machine's own apt
  sources, with the settings of Debian's slim images (no recommends, no apt
  caches or lists, no documentation, merged /usr without the usrmerge package),
  imported as docker.io/library/debian:12-slim.
- pinsync's image is docker/Dockerfile, unchanged, built with `podman build
  --format docker` (Podman's default OCI format drops HEALTHCHECK).

The cache ($PINSYNC_CONTAINER_CACHE, else /var/tmp/pinsync-containers) holds
Podman's storage, so images outlive the test run. Each image is tagged with a
key, and a tag that is missing means "make it":
- base: localhost/pinsync-base:KEY, KEY a hash of the mmdebstrap command, the apt
  sources and the architecture; also remade when older than BASE_MAX_AGE_DAYS, so
  that Debian's updates come in;
- pinsync: localhost/pinsync:KEY, KEY a hash of the base image's id, the
  Dockerfile and every file under what its build stage COPYs (as COPY sees them:
  the working tree, tracked or not).
So the image is built once for a given source, whichever build tree (ASan or
plain) runs the test. A lock file serialises the makers of one cache.
Nothing is downloaded but Debian packages, by apt inside mmdebstrap and the
Dockerfile's apt-get.

Python standard library only.
"""

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get("PINSYNC_CONTAINER_CACHE") or "/var/tmp/pinsync-containers"
BASE_TAG = "docker.io/library/debian:12-slim"
BASE_REPO = "localhost/pinsync-base"
IMAGE_REPO = "localhost/pinsync"
BASE_MAX_AGE_DAYS = 30
KEEP_IMAGES = 2  # pinsync images kept in the cache (the newest)
COMMANDS = ("podman", "runc", "mmdebstrap")  # bootstrap.sh installs their packages

# The base image: Debian's minbase variant (Essential packages and apt), made as
# Debian's slim images are (debuerreotype's --slim): documentation, man pages and
# translations are never unpacked, apt keeps no package lists nor downloaded
# packages nor its binary caches, and installs no recommended packages.
SLIM_DPKG = [
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/groff/*",
    "path-exclude=/usr/share/lintian/*",
    "path-exclude=/usr/share/linda/*",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
]
SLIM_APT = [
    'APT::Install-Recommends "false"',
    'APT::Install-Suggests "false"',
    'APT::AutoRemove::SuggestsImportant "false"',
    'Acquire::Languages "none"',
    'Acquire::GzipIndexes "true"',
    'Acquire::CompressionTypes::Order:: "gz"',
    'Dir::Cache::pkgcache ""',
    'Dir::Cache::srcpkgcache ""',
    'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb'
    ' /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; }',
    'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb'
    ' /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; }',
]


def mmdebstrap_args(sources, target):
    args = ["mmdebstrap", "--variant=minbase", "--format=tar",
            # merged /usr with the small usr-is-merged package, as Debian's images
            # are: else apt picks usrmerge, which brings perl (30 MB).
            "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr"]
    args += ["--dpkgopt=" + o for o in SLIM_DPKG]
    args += ["--aptopt=" + o for o in SLIM_APT]
    args += ["--customize-hook=rm -rf \"$1\"/var/lib/apt/lists/* \"$1\"/var/cache/apt/*"
             " \"$1\"/var/log/apt/* \"$1\"/var/log/dpkg.log \"$1\"/var/log/alternatives.log"
             " \"$1\"/var/cache/ldconfig/aux-cache",
             "bookworm", target, sources]
    return args


def log(msg):
    print(f"containers: {msg}", file=sys.stderr, flush=True)


def rundir():
    """Podman's run-time state (locks, mounts): under /run, one per cache."""
    return "/run/pinsync-containers/" + hashlib.sha256(CACHE.encode()).hexdigest()[:12]


def container_limits():
    """(nofile, nproc) for the containers: what Podman itself has. Podman run as
    root gives containers nofile=1048576 and nproc=4194304 unless told otherwise,
    and without CAP_SYS_RESOURCE (root lacks it on these machines) the runtime
    cannot raise its limits to that. Podman runs with the hard limits it was
    given, its nproc also capped at kernel.pid_max (seen with Podman 4.3)."""
    import resource
    cap = 1048576
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())

    def hard(which, most):
        h = resource.getrlimit(which)[1]
        return most if h == resource.RLIM_INFINITY else min(h, most)
    return hard(resource.RLIMIT_NOFILE, cap), hard(resource.RLIMIT_NPROC, min(cap, pid_max))


def configure():
    """Writes Podman's configuration into the cache and points this process's
    environment (hence every podman it starts) at it. Returns the variables set."""
    os.makedirs(CACHE, exist_ok=True)
    nofile, nproc = container_limits()
    values = {"@CACHE@": CACHE, "@RUNDIR@": rundir(),
              "@NOFILE@": f"{nofile}:{nofile}", "@NPROC@": f"{nproc}:{nproc}"}
    env = {}
    for name, var in (("containers.conf", "CONTAINERS_CONF"),
                      ("storage.conf", "CONTAINERS_STORAGE_CONF")):
        with open(os.path.join(HERE, name), encoding="utf-8") as f:
            text = f.read()
        for k, v in values.items():
            text = text.replace(k, v)
        path = os.path.join(CACHE, name)
        old = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                old = f.read()
        if old != text:
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(path + ".tmp", path)
        env[var] = path
    os.environ.update(env)
    return env


def podman(*args, check=True, timeout=600):
    """Runs podman ARGS (configure() first); returns the CompletedProcess, its
    output as text. check: raise with podman's output when it fails."""
    p = subprocess.run(["podman"] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} exited {p.returncode}\n"
                           f"{p.stdout or ''}{p.stderr or ''}")
    return p


def cannot_run():
    """Why containers cannot run on this machine, or None when they can."""
    if not sys.platform.startswith("linux"):
        return f"not Linux ({sys.platform})"
    missing = [c for c in COMMANDS if shutil.which(c) is None]
    if missing:
        return (f"not installed: {', '.join(missing)} (Debian packages; ./bootstrap.sh"
                " installs them with the other test packages)")
    if os.geteuid() != 0:
        return "not root: the test runs Podman as root (as CI does), with no user namespaces"
    # What every container needs from the kernel: mount, PID, UTS and IPC
    # namespaces (the test's containers share the host's network).
    p = subprocess.run(["unshare", "--mount", "--uts", "--ipc", "--pid", "--fork",
                        "--mount-proc", "true"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        return f"no namespaces for containers here (unshare: {p.stdout.strip()})"
    configure()
    p = podman("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False)
    if p.returncode != 0:
        lines = (p.stderr or p.stdout or "no output").strip().splitlines()
        return f"podman info fails: {lines[-1]}"
    return None


class Lock:
    """An exclusive lock on the cache, held while an image is made."""

    def __enter__(self):
        os.makedirs(CACHE, exist_ok=True)
        self.f = open(os.path.join(CACHE, "lock"), "w")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


def tags(repo):
    """The local tags of repository repo (localhost/NAME), newest first."""
    rows = podman("images", "--sort", "created", "--format",
                  "{{.Repository}}:{{.Tag}}").stdout.split()
    return [r for r in rows if r.startswith(repo + ":")]


def image_id(ref):
    """The id of a local image, or None."""
    p = podman("image", "inspect", "--format", "{{.Id}}", ref, check=False)
    return p.stdout.strip() if p.returncode == 0 else None


# --- the base image -------------------------------------------------------

def deb822_paragraphs(text):
    """[{field: value}] of a deb822 file (comments dropped, continuations kept)."""
    out, cur, last = [], {}, None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if cur:
                out.append(cur)
            cur, last = {}, None
        elif line[0] in " \t" and last:
            cur[last] += "\n" + line
        else:
            k, _, v = line.partition(":")
            last = k.strip()
            cur[last] = v.strip()
    if cur:
        out.append(cur)
    return out


def one_line_sources(text):
    """sources.list lines ("deb [opts] URI SUITE COMPONENT...") as deb822 fields."""
    out = []
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        m = re.match(r"^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$", line)
        if not m:
            continue
        p = {"Types": m.group(1), "URIs": m.group(3), "Suites": m.group(4),
             "Components": m.group(5)}
        for opt in (m.group(2) or "").split():
            k, _, v = opt.partition("=")
            if k == "signed-by":
                p["Signed-By"] = v
        out.append(p)
    return out


def apt_sources():
    """The machine's enabled apt sources of Debian bookworm, as one deb822 text:
    what mmdebstrap downloads from, and what the image's apt-get uses. Other
    sources (other suites, keys the image does not have) are left out."""
    d = "/etc/apt/sources.list.d"
    paragraphs = []
    files = ["/etc/apt/sources.list"] + sorted(
        os.path.join(d, f) for f in (os.listdir(d) if os.path.isdir(d) else [])
        if f.endswith((".list", ".sources")))
    for path in files:
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        paragraphs += (deb822_paragraphs(text) if path.endswith(".sources")
                       else one_line_sources(text))
    out = []
    for p in paragraphs:
        if p.get("Enabled", "yes").lower() == "no" or "deb" not in p.get("Types", "").split():
            continue
        suites = [s for s in p.get("Suites", "").split()
                  if s == "bookworm" or s.startswith("bookworm-")]
        key = p.get("Signed-By", "")
        if not suites or (key.startswith("/") and
                          not key.startswith("/usr/share/keyrings/debian-archive-")):
            continue
        fields = {"Types": "deb", "URIs": p["URIs"], "Suites": " ".join(suites),
                  "Components": p.get("Components", "main")}
        if key:
            fields["Signed-By"] = key
        out.append("".join(f"{k}: {v}\n" for k, v in fields.items()))
    if not out:
        raise RuntimeError("no Debian bookworm source in the machine's apt configuration"
                           " (/etc/apt/sources.list, /etc/apt/sources.list.d/)")
    return "\n".join(out)


def base_key(sources):
    version = subprocess.run(["mmdebstrap", "--version"], stdout=subprocess.PIPE,
                             text=True).stdout.strip()
    arch = subprocess.run(["dpkg", "--print-architecture"], stdout=subprocess.PIPE,
                          text=True).stdout.strip()
    recipe = json.dumps([mmdebstrap_args("SOURCES", "TARGET"), sources, version, arch])
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def base_image():
    """Makes the base image unless the cache has it. Returns (tag, made, seconds)."""
    configure()
    sources = apt_sources()
    key = base_key(sources)
    tag = f"{BASE_REPO}:{key}"
    with Lock():
        have = image_id(tag)
        if have:
            created = podman("image", "inspect", "--format", "{{.Created.Unix}}", tag).stdout
            if time.time() - int(created) < BASE_MAX_AGE_DAYS * 86400:
                if image_id(BASE_TAG) != have:
                    podman("tag", tag, BASE_TAG)
                return tag, False, 0.0
            log(f"{tag} is over {BASE_MAX_AGE_DAYS} days old: making it again")
        t0 = time.time()
        work = os.path.join(CACHE, "base")
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        srcfile = os.path.join(work, "debian.sources")
        with open(srcfile, "w", encoding="utf-8") as f:
            f.write(sources)
        tar = os.path.join(work, "rootfs.tar")
        log(f"making the base image {BASE_TAG} with mmdebstrap (about a minute)")
        with open(os.path.join(work, "mmdebstrap.log"), "w") as logf:
            p = subprocess.run(["nice", "-n", "10"] + mmdebstrap_args(srcfile, tar),
                               stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            with open(logf.name, encoding="utf-8", errors="replace") as lf:
                tail = lf.read()[-3000:]
            raise RuntimeError(f"mmdebstrap exited {p.returncode}:\n{tail}")
        podman("import", "--change", 'CMD ["bash"]', tar, tag)
        podman("tag", tag, BASE_TAG)
        os.unlink(tar)
        # Earlier bases (another key) are no longer of use.
        for ref in tags(BASE_REPO):
            if ref != tag:
                podman("rmi", ref, check=False)
        return tag, True, time.time() - t0


# --- pinsync's image ------------------------------------------------------

def dockerfile_copies(path):
    """The sources of the COPY instructions that read the build context."""
    with open(path, encoding="utf-8") as f:
        text = f.read().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        words = line.split()
        if words and words[0].upper() == "COPY" and not any(
                w.startswith("--from") for w in words):
            out += [w for w in words[1:-1] if not w.startswith("--")]
    return out


def image_key(base_id, dockerfile):
    h = hashlib.sha256()
    h.update(base_id.encode() + b"\0")
    paths = [dockerfile]
    for src in dockerfile_copies(dockerfile):
        top = os.path.join(REPO, src)
        if os.path.isdir(top):
            for d, dirs, files in os.walk(top):
                dirs.sort()
                paths += [os.path.join(d, f) for f in sorted(files)]
        else:
            paths.append(top)
    for p in paths:
        st = os.lstat(p)
        h.update(os.path.relpath(p, REPO).encode() + b"\0" + oct(st.st_mode).encode() + b"\0")
        if os.path.islink(p):
            h.update(os.readlink(p).encode())
        else:
            with open(p, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:16]


def pinsync_image():
    """Builds docker/Dockerfile unless the cache has the image of this source.
    Returns (tag, built, seconds)."""
    configure()
    dockerfile = os.path.join(REPO, "docker", "Dockerfile")
    base_id = image_id(BASE_TAG)
    if not base_id:
        raise RuntimeError(f"no {BASE_TAG}: base_image() first")
    tag = f"{IMAGE_REPO}:{image_key(base_id, dockerfile)}"
    with Lock():
        if image_id(tag):
            return tag, False, 0.0
        t0 = time.time()
        log(f"building {tag} from docker/Dockerfile (a few minutes)")
        # Host network for the build's apt-get: nothing depends on Podman's
        # bridge. --pull=never: the base is the local one, no registry.
        p = subprocess.run(["nice", "-n", "10", "podman", "build", "--format", "docker",
                            "--pull=never", "--network", "host", "--layers",
                            "-f", dockerfile, "-t", tag, REPO],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        with open(os.path.join(CACHE, "build.log"), "w") as f:
            f.write(p.stdout)
        if p.returncode != 0:
            raise RuntimeError(f"podman build exited {p.returncode}:\n{p.stdout[-4000:]}")
        prune(keep=tag)
        return tag, True, time.time() - t0


def prune(keep):
    """Drops all but the newest KEEP_IMAGES pinsync images, and the build's
    intermediate images over a day old: they are the layer cache of the next
    build (its apt-get install, when only the sources changed)."""
    for ref in [r for r in tags(IMAGE_REPO) if r != keep][KEEP_IMAGES - 1:]:
        podman("rmi", ref, check=False)
    podman("image", "prune", "-f", "--filter", "until=24h", check=False)


# --- what takes the room --------------------------------------------------

def mb(n):
    return f"{n / 1e6:.1f} MB"


# Bytes of the files of each installed package, as they are in the image
# (what dpkg's Installed-Size says counts the documentation left out); a file
# with several names counts once.
PACKAGE_SIZES = r"""
cd /var/lib/dpkg/info
for f in *.list; do p=${f%.list}; sed "s|^|${p%%:*}\t|" "$f"; done >/tmp/owners
cut -f2 /tmp/owners | xargs -r -d '\n' stat --printf '%F\t%i\t%s\t%n\n' 2>/dev/null |
    awk -F '\t' 'NR == FNR { owner[$2] = $1; next }
        $1 == "regular file" && !seen[$2]++ { size[owner[$4]] += $3 }
        END { for (p in size) print size[p], p }' /tmp/owners -
"""


def image_report(tag):
    """Lines saying the image's size, by layer and by Debian package."""
    size = int(podman("image", "inspect", "--format", "{{.Size}}", tag).stdout)
    base = int(podman("image", "inspect", "--format", "{{.Size}}", BASE_TAG).stdout)
    lines = [f"image {tag}: {mb(size)} (base {BASE_TAG}: {mb(base)})", "layers:"]
    hist = podman("history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}",
                  tag).stdout
    for row in hist.splitlines():
        sz, _, by = row.partition("\t")
        by = re.sub(r"\s+", " ", re.sub(r"^/bin/sh -c (#\(nop\) )?", "", by)).strip()
        if sz.strip() not in ("0B", "0 B"):
            lines.append(f"  {sz.strip():>9}  {by[:100]}")
    def packages(ref):
        rows = podman("run", "--rm", "--no-healthcheck", "--network", "none", "--user", "0",
                      "--entrypoint", "sh", ref, "-c", PACKAGE_SIZES).stdout.split("\n")
        return dict((r.split()[1], int(r.split()[0])) for r in rows if r)
    inbase = packages(BASE_TAG)
    pkgs = packages(tag)
    for title, names in (("from the base", [n for n in pkgs if n in inbase]),
                         ("added by the Dockerfile", [n for n in pkgs if n not in inbase])):
        names.sort(key=lambda n: -pkgs[n])
        lines.append(f"Debian packages {title}: {len(names)}, "
                     f"{mb(sum(pkgs[n] for n in names))} of files; the largest:")
        lines += [f"  {mb(pkgs[n]):>9}  {n}" for n in names[:8]]
    binsize = podman("run", "--rm", "--no-healthcheck", "--network", "none", "--entrypoint",
                     "stat", tag, "-c", "%s", "/usr/local/bin/pinsync").stdout.strip()
    lines.append(f"  {mb(int(binsize)):>9}  /usr/local/bin/pinsync (stripped)")
    return size, lines


def compose_images():
    """Stand-ins for the registry's images docker/compose.yaml names, built from
    Debian's packages on the local base (tests/container/compose/): postgres:15
    from postgresql-15, python:3 from python3; pinsync's image as pinsync:dev.
    For trying compose by hand: podman-compose 1.0.3 (Debian 12) does not bring
    it up (README, "The container")."""
    base_image()
    tag, _, _ = pinsync_image()
    podman("tag", tag, "localhost/pinsync:dev")
    ctx = os.path.join(HERE, "compose")
    for name, ref in (("postgres.Dockerfile", "docker.io/library/postgres:15"),
                      ("python.Dockerfile", "docker.io/library/python:3")):
        log(f"building {ref} from {os.path.relpath(os.path.join(ctx, name), REPO)}")
        podman("build", "--format", "docker", "--pull=never", "--network", "host",
               "-f", os.path.join(ctx, name), "-t", ref, ctx, timeout=1200)


def main(argv):
    what = argv[1] if len(argv) > 1 else "image"
    if what == "env":
        for k, v in configure().items():
            print(f"export {k}={v}")
        return 0
    why = cannot_run()
    if why:
        print(f"CONTAINERS CANNOT RUN HERE: {why}")
        return 1
    if what == "check":
        print("containers can run here")
        return 0
    if what == "compose-images":
        compose_images()
        print("postgres:15, python:3 and pinsync:dev are in the cache's storage")
        return 0
    if what != "image":
        print(f"usage: {argv[0]} [check|image|env|compose-images]", file=sys.stderr)
        return 2
    btag, made, secs = base_image()
    print(f"base {btag} ({BASE_TAG}): {'made in %.0f s' % secs if made else 'cached'}")
    tag, built, secs = pinsync_image()
    print(f"image {tag}: {'built in %.0f s' % secs if built else 'cached'}")
    print("\n".join(image_report(tag)[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
