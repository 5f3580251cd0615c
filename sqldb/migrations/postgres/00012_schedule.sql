-- +goose Up
-- A schedule campaign's slots: one row per (campaign, slot time), claimed by
-- whichever omo inserts it first, so any number of instances fire a slot once.
-- state: planning → queued → sending → done; or missed, paused, cancelled.
CREATE TABLE campaign_slots (
    id          BIGSERIAL PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    slot_at     TIMESTAMPTZ NOT NULL,
    state       TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    planned     BIGINT NOT NULL DEFAULT 0,
    plan_cursor TEXT NOT NULL DEFAULT '',
    batches     INTEGER NOT NULL DEFAULT 0,
    claimed_by  TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (campaign_id, slot_at)
);

-- The per-recipient ledger of a firing, and its only progress record:
-- state planned → sent | failed | skipped (reason says why).
CREATE TABLE campaign_recipients (
    slot_id    BIGINT NOT NULL,
    openid     TEXT NOT NULL,
    batch      INTEGER NOT NULL,
    state      TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    message_id TEXT NOT NULL DEFAULT '',
    coupon_code TEXT NOT NULL DEFAULT '',
    updated_at TIMESTAMPTZ NULL,
    PRIMARY KEY (slot_id, openid)
);
CREATE INDEX campaign_recipients_batch ON campaign_recipients (slot_id, batch);

-- Who a campaign reached at least once (never_received audiences).
CREATE TABLE campaign_reached (
    campaign_id TEXT NOT NULL,
    openid      TEXT NOT NULL,
    PRIMARY KEY (campaign_id, openid)
);

-- Operator controls of a campaign (omo campaigns pause|resume|cancel):
-- state '' (running), paused or cancelled.
CREATE TABLE campaign_controls (
    campaign_id TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- When omo first ran each schedule campaign: slots before it are not its own.
CREATE TABLE campaign_seen (
    campaign_id   TEXT PRIMARY KEY,
    first_seen_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE campaign_seen;
DROP TABLE campaign_controls;
DROP TABLE campaign_reached;
DROP TABLE campaign_recipients;
DROP TABLE campaign_slots;
