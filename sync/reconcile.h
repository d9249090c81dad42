/*
 * reconcile.h: drift between Pinterest's catalog and the snapshot.
 *
 * The snapshot says what Pinterest accepted from pinsync. Someone may have
 * deleted or edited items since (Pinterest's UI, another tool, a feed data
 * source of the catalog). ps_drift_check() reads snapshot items back from
 * Pinterest (a random sample, or the whole snapshot a page at a time, at
 * most PS_READBACK_MAX ids per request, paced by the client's rate
 * limiter) and compares what Pinterest holds with the snapshot's
 * fingerprint, attribute by attribute. Each item that differs is reported
 * (when a report stream is given) and, with opts.mark, marked so that the
 * next diff repairs it:
 *   - an item Pinterest holds otherwise: its snapshot hash becomes
 *     PS_HASH_DRIFT and its fingerprint that of what Pinterest holds, so
 *     the next run sends exactly what differs;
 *   - an item Pinterest does not give (an error item: deleted outside
 *     pinsync, or an error Pinterest does not explain): hash PS_HASH_DRIFT
 *     and no fingerprint (unknown), so the next run sends it whole
 *     (UPSERT) or, on a catalog with a feed data source, reads it back
 *     once more and creates or updates it as it finds it.
 * An id without any answer is counted unknown and left alone.
 */
#ifndef PS_SYNC_RECONCILE_H
#define PS_SYNC_RECONCILE_H

#include <stdint.h>
#include <stdio.h>

#include "db.h"
#include "pinterest.h"

typedef struct ps_drift_options {
	int sample;   /* read back this many random items; 0: the whole snapshot */
	int mark;     /* mark drifted items for repair by the next diff */
	FILE *report; /* one line per difference, or NULL */
} ps_drift_options;

typedef struct ps_drift_counts {
	int64_t checked; /* items read back with an answer */
	int64_t missing; /* in the snapshot, given as an error item by Pinterest */
	int64_t changed; /* on Pinterest with other attributes */
	int64_t unknown; /* no answer for the id */
} ps_drift_counts;

/* Checks the target's snapshot against Pinterest. Returns 0, a PS_PIN_*
 * code when Pinterest could not be read (with ps_pin_last()), or PS_DB_*
 * when the database failed (with ps_db_error()); counts hold what was
 * done until then. */
int ps_drift_check(ps_db *db, ps_pin *pin, const ps_target *target, const ps_drift_options *opts,
                   ps_drift_counts *counts);

#endif /* PS_SYNC_RECONCILE_H */
