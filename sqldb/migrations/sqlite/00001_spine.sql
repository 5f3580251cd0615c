-- +goose Up
CREATE TABLE followers (
    openid          TEXT PRIMARY KEY,
    unionid         TEXT NOT NULL DEFAULT '',
    subscribed      BOOLEAN NOT NULL,
    subscribed_at   TIMESTAMP NULL,
    unsubscribed_at TIMESTAMP NULL,
    first_seen_at   TIMESTAMP NOT NULL,
    first_scene     TEXT NOT NULL DEFAULT '',
    last_event_at   TIMESTAMP NOT NULL
);
CREATE INDEX followers_unionid ON followers (unionid) WHERE unionid <> '';

CREATE TABLE inbound_events (
    id          INTEGER PRIMARY KEY,
    dedupe_key  TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    openid      TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    payload     TEXT NOT NULL,
    reply       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX inbound_events_openid ON inbound_events (openid, created_at);

CREATE TABLE outbox (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    run_at     TIMESTAMP NOT NULL,
    state      TEXT NOT NULL DEFAULT 'pending',
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX outbox_pending ON outbox (run_at) WHERE state = 'pending';

-- +goose Down
DROP TABLE outbox;
DROP TABLE inbound_events;
DROP TABLE followers;
