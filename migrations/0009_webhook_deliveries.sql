-- Replay protection for webhooks (issue "Hardening"): the delivery ids a
-- sender puts on each webhook (X-Shopify-Webhook-Id, X-WC-Webhook-Delivery-ID,
-- X-Pinsync-Delivery), remembered for the replay window
-- (PINSYNC_WEBHOOK_TOLERANCE_S). A signed request whose delivery id was seen
-- for its target within the window is a replay: answered 200, nothing queued.
--
-- A delivery is recorded in the same statement that queues its job, so a
-- request that failed (503) is not mistaken for a replay when it is retried.
-- Serve's heartbeat deletes the rows older than the window.
CREATE TABLE webhook_deliveries (
    target_id   bigint NOT NULL REFERENCES targets ON DELETE CASCADE,
    delivery_id text NOT NULL CHECK (length(delivery_id) BETWEEN 1 AND 200),
    first_seen  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_id, delivery_id)
);

-- What the pruning scans.
CREATE INDEX webhook_deliveries_first_seen_idx ON webhook_deliveries (first_seen);
