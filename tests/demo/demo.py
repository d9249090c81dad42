"""The README's demo: a real sync of a bundled sample feed, shown step by step.

Starts a PostgreSQL cluster in the project folder (.demo/, removed at the
end) and the bundled Pinterest API simulator on 127.0.0.1, syncs
products-v1.xml, then products-v2.xml (a price cut, an ended sale, an item
gone, two new ones), then v2 again, and prints what each run sent and what
the simulator's catalog holds afterwards.
"""

import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from harness import REPO, PgCluster, Pinsync, Simulator  # noqa: E402


def show(title):
    print(f"\n\033[1m== {title}\033[0m" if sys.stdout.isatty() else f"\n== {title}")


def run(ps, *args):
    print("$ pinsync " + " ".join(args))
    p = ps.run(*args)
    sys.stdout.write(p.stdout)
    if p.returncode not in (0,):
        sys.stdout.write(p.stderr)
        raise SystemExit(f"demo: pinsync {' '.join(args)} exited {p.returncode}")
    return p


def print_sent(sim):
    posts = sim.batch_posts()
    if not posts:
        print("  (no batch sent)")
    for i, body in enumerate(posts, 1):
        print(f"  batch {i}: {len(body['items'])} items")
        for it in body["items"]:
            attrs = it.get("attributes", {})
            detail = ", ".join(f"{k}={attrs[k]}" for k in ("price", "sale_price") if k in attrs)
            if "update_mask" in it:
                detail += ("; " if detail else "") + "update_mask=" + ",".join(it["update_mask"])
            print(f"    {it['operation']:<7} {it['item_id']:<11} {detail}")


def print_catalog(sim):
    cat = sim.catalog("1001")
    print(f"  {len(cat)} items in the simulator's catalog 1001:")
    for item_id in sorted(cat):
        a = cat[item_id]["attributes"]
        sale = f" (sale {a['sale_price']})" if "sale_price" in a else ""
        print(f"    {item_id:<11} {a.get('price', ''):>10}{sale:<18} {a.get('availability', '')}"
              f"  {a.get('title', '')}")


def main():
    demo_dir = os.path.join(REPO, ".demo")
    feed = os.path.join(demo_dir, "feed.xml")
    show("starting PostgreSQL in .demo/ and the Pinterest API simulator")
    pg = PgCluster(parent=demo_dir).start()
    # The simulator checks every request against the project's contract
    # (tests/pinsim/contract.json), and against Pinterest's full OpenAPI
    # description too when the shared folder beside the checkout has it.
    sim = Simulator("--processing-polls", "1")
    print(f"  PostgreSQL on 127.0.0.1:{pg.port}, simulator on {sim.api_base}")
    try:
        checks = sim.checks()
        contract = os.path.relpath(checks["contract"], REPO)
        if checks["spec"]:
            print(f"  requests checked against the contract {contract} and Pinterest's "
                  f"full OpenAPI description {checks['spec']}")
        else:
            print(f"  requests checked against the contract {contract} only "
                  f"({checks['summary'].split(': ', 1)[-1]})")
        ps = Pinsync(pg, sim, PINSYNC_POLL_INITIAL_MS="200", PINSYNC_LOG_FORMAT="text",
                     PINSYNC_LOG_LEVEL="warn")
        run(ps, "migrate")
        run(ps, "auth", "set", "--access-token", sim.ACCESS_TOKEN, "--refresh-token",
            sim.REFRESH_TOKEN, "--expires-in", "2592000")
        shutil.copy(os.path.join(HERE, "products-v1.xml"), feed)
        run(ps, "target", "add", "demo", "--feed", feed, "--catalog-id", "1001",
            "--country", "US", "--language", "en-US")

        show("first sync of products-v1.xml (8 items)")
        run(ps, "run", "demo")
        print("sent:")
        print_sent(sim)
        print_catalog(sim)

        show("the store changes: MUG-001 price cut, BOWL-010 sale ended, VASE-030 gone, "
             "2 new items")
        shutil.copy(os.path.join(HERE, "products-v2.xml"), feed)
        run(ps, "run", "--dry-run", "demo")
        sim.clear_requests()
        run(ps, "run", "demo")
        print("sent:")
        print_sent(sim)
        print_catalog(sim)

        show("the same feed again: nothing to send")
        sim.clear_requests()
        run(ps, "run", "demo")
        print_sent(sim)

        show("pinsync status demo")
        run(ps, "status", "demo")
    finally:
        sim.stop()
        pg.destroy()
        shutil.rmtree(demo_dir, ignore_errors=True)
    print("\ndemo: done (the cluster in .demo/ was stopped and removed)")


if __name__ == "__main__":
    main()
