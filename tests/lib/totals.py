"""The figures of /metrics that count the journal's history, two ways.

pinsync keeps them as totals, by triggers, as the work is done
(migrations/0011_metric_totals.sql), so that a scrape costs the same
whatever the journal's size. journal_figures() computes them the slow way,
from the journal itself, as /metrics did before: the oracle the totals are
checked against after every path a test drives (recorded results, results
recorded again, failures followed up, lost, split, skipped and abandoned
batches, crashes and recovery).
"""

from harness import parse_metrics

# The families, as the journal gives them: (metric, SQL of rows (target,
# l1, l2, value)). Labels after "target" are named in LABELS.
JOURNAL_SQL = {
    "pinsync_runs_total":
        "SELECT t.name, r.outcome, '', count(*) FROM runs r JOIN targets t ON t.id = r.target_id"
        " WHERE r.outcome <> 'running' GROUP BY 1, 2",
    "pinsync_runs_running":
        "SELECT t.name, '', '', count(r.id) FROM targets t LEFT JOIN runs r"
        " ON r.target_id = t.id AND r.outcome = 'running' GROUP BY 1",
    "pinsync_items_total":
        "SELECT t.name, lower(bi.operation), CASE"
        "  WHEN bi.status = 'FAILURE' AND bi.resolution IS NOT NULL THEN 'followed_up'"
        "  WHEN bi.status IN ('SUCCESS', 'FAILURE', 'SKIPPED') THEN lower(bi.status)"
        "  ELSE 'pending' END, count(*)"
        " FROM batch_item_results bi JOIN targets t ON t.id = bi.target_id GROUP BY 1, 2, 3",
    "pinsync_items_invalid_total":
        "SELECT t.name, '', '', coalesce(sum(r.invalid), 0) FROM targets t"
        " LEFT JOIN runs r ON r.target_id = t.id GROUP BY 1",
    "pinsync_batches_total":
        "SELECT t.name, b.state, '', count(*) FROM batches b JOIN targets t ON t.id = b.target_id"
        " GROUP BY 1, 2",
    "pinsync_batches_in_flight":
        "SELECT t.name, '', '', count(b.id) FROM targets t LEFT JOIN batches b"
        " ON b.target_id = t.id AND b.state IN ('planned', 'sent') GROUP BY 1",
    "pinsync_api_retries_total":
        "SELECT t.name, '', '', coalesce(sum(r.retries), 0) FROM targets t"
        " LEFT JOIN runs r ON r.target_id = t.id GROUP BY 1",
    "pinsync_api_retry_wait_seconds_total":
        "SELECT t.name, '', '', coalesce(sum(r.retry_wait_s), 0) FROM targets t"
        " LEFT JOIN runs r ON r.target_id = t.id GROUP BY 1",
    "pinsync_last_success_timestamp_seconds":
        "SELECT t.name, '', '', max(extract(epoch FROM r.finished_at)) FROM runs r"
        " JOIN targets t ON t.id = r.target_id WHERE r.outcome IN ('ok', 'unchanged')"
        " GROUP BY 1",
    "pinsync_feed_bytes_total":
        "SELECT t.name, '', '', coalesce(sum(r.feed_bytes), 0) FROM targets t"
        " LEFT JOIN runs r ON r.target_id = t.id GROUP BY 1",
    "pinsync_feed_items_parsed_total":
        "SELECT t.name, '', '', coalesce(sum(r.parsed), 0) FROM targets t"
        " LEFT JOIN runs r ON r.target_id = t.id GROUP BY 1",
}
LABELS = {
    "pinsync_runs_total": ("outcome",),
    "pinsync_items_total": ("operation", "result"),
    "pinsync_batches_total": ("state",),
}


def journal_figures(pg):
    """The families of JOURNAL_SQL as the journal gives them now."""
    out = {}
    for name, sql in JOURNAL_SQL.items():
        for target, l1, l2, value in pg.psql(sql):
            labels = {"target": target}
            for label, v in zip(LABELS.get(name, ()), (l1, l2)):
                labels[label] = v
            out[(name, frozenset(labels.items()))] = float(value)
    return out


def kept_figures(ps):
    """The same families as `pinsync metrics` prints them (the totals)."""
    text = ps.run("metrics", check=0).stdout
    return {k: v for k, v in parse_metrics(text).items() if k[0] in JOURNAL_SQL}


def differences(kept, journal):
    """Samples that differ; a zero on one side and none on the other agree
    (a total that went back to zero, a group the journal no longer has)."""
    diffs = []
    for key in sorted(set(kept) | set(journal), key=repr):
        a, b = kept.get(key, 0.0), journal.get(key, 0.0)
        if abs(a - b) > 1e-6 * max(1.0, abs(b)):
            diffs.append(f"{key[0]}{dict(key[1])}: kept {a}, journal {b}")
    return diffs


def assert_totals_match_journal(test, pg, ps):
    """The totals agree with the journal (nothing pruned in between)."""
    diffs = differences(kept_figures(ps), journal_figures(pg))
    test.assertEqual(diffs, [], "metric totals differ from the journal:\n" + "\n".join(diffs))
