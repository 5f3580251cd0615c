-- +goose Up
-- coupon_expiring: one claim per (campaign, coupon), inserted by whichever
-- omo gets there first and before it acts, so any number of instances remind
-- of a coupon once. state: fired, or skipped with the reason (unfollowed,
-- coupon no longer unused, limits, audience).
CREATE TABLE coupon_reminders (
    campaign_id TEXT NOT NULL,
    code        TEXT NOT NULL,
    openid      TEXT NOT NULL,
    state       TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    claimed_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (campaign_id, code)
);
-- The reminder scan: a pool's unused coupons in order of expiry.
CREATE INDEX coupons_expiring ON coupons (pool_id, state, expires_at);

-- One message/mass/send call: a chunk of a firing's recipients, recorded
-- (with the monthly budget taken) before the call. state: planned → sent →
-- finished (MASSSENDJOBFINISH); or failed (WeChat refused), skipped (fewer
-- than two recipients left). openids is the JSON list sent, so a retry
-- sends the same call with the same clientmsgid.
CREATE TABLE mass_sends (
    id           INTEGER PRIMARY KEY,
    campaign_id  TEXT NOT NULL,
    slot_id      BIGINT NOT NULL,
    chunk        INTEGER NOT NULL,
    clientmsgid  TEXT NOT NULL UNIQUE,
    month        TEXT NOT NULL,
    recipients   INTEGER NOT NULL DEFAULT 0,
    over_budget  INTEGER NOT NULL DEFAULT 0,
    openids      TEXT NOT NULL DEFAULT '[]',
    state        TEXT NOT NULL,
    errcode      INTEGER NOT NULL DEFAULT 0,
    reason       TEXT NOT NULL DEFAULT '',
    msg_id       BIGINT NULL,
    msg_data_id  BIGINT NULL,
    status       TEXT NOT NULL DEFAULT '',
    total_count  INTEGER NOT NULL DEFAULT 0,
    filter_count INTEGER NOT NULL DEFAULT 0,
    sent_count   INTEGER NOT NULL DEFAULT 0,
    error_count  INTEGER NOT NULL DEFAULT 0,
    created_at   TIMESTAMP NOT NULL,
    sent_at      TIMESTAMP NULL,
    finished_at  TIMESTAMP NULL,
    UNIQUE (slot_id, chunk)
);
CREATE INDEX mass_sends_msg_id ON mass_sends (msg_id);
CREATE INDEX mass_sends_campaign ON mass_sends (campaign_id, slot_id);

-- MASSSENDJOBFINISH reports that arrived before omo recorded the msg_id of
-- the send they are about.
CREATE TABLE mass_reports (
    msg_id       BIGINT PRIMARY KEY,
    status       TEXT NOT NULL,
    total_count  INTEGER NOT NULL,
    filter_count INTEGER NOT NULL,
    sent_count   INTEGER NOT NULL,
    error_count  INTEGER NOT NULL,
    received_at  TIMESTAMP NOT NULL
);

-- A service account's followers receive at most 4 mass sends a natural
-- month (Asia/Shanghai); month is YYYY-MM.
CREATE TABLE mass_budget (
    openid TEXT NOT NULL,
    month  TEXT NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (openid, month)
);

-- +goose Down
DROP TABLE mass_budget;
DROP TABLE mass_reports;
DROP TABLE mass_sends;
DROP INDEX coupons_expiring;
DROP TABLE coupon_reminders;
