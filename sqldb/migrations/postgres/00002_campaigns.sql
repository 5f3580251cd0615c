-- +goose Up
CREATE TABLE follower_tags (
    openid TEXT NOT NULL,
    tag    TEXT NOT NULL,
    PRIMARY KEY (openid, tag)
);

CREATE TABLE coupon_pools (
    id         TEXT PRIMARY KEY,
    stock      BIGINT NOT NULL,
    issued     BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE coupons (
    code        TEXT PRIMARY KEY,
    pool_id     TEXT NOT NULL,
    openid      TEXT NOT NULL,
    campaign_id TEXT NOT NULL DEFAULT '',
    event_id    BIGINT NULL,
    state       TEXT NOT NULL,
    title       TEXT NOT NULL DEFAULT '',
    issued_at   TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    redeemed_at TIMESTAMPTZ NULL,
    store_id    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX coupons_owner ON coupons (openid, pool_id);
CREATE INDEX coupons_campaign ON coupons (campaign_id, state);

CREATE TABLE campaign_firings (
    id          BIGSERIAL PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    openid      TEXT NOT NULL,
    event_id    BIGINT NULL,
    fired_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX campaign_firings_follower ON campaign_firings (campaign_id, openid, fired_at);

CREATE TABLE campaign_budgets (
    campaign_id TEXT PRIMARY KEY,
    fired       BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE messages (
    id           TEXT PRIMARY KEY,
    campaign_id  TEXT NOT NULL,
    openid       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    state        TEXT NOT NULL,
    errcode      INTEGER NOT NULL DEFAULT 0,
    reason       TEXT NOT NULL DEFAULT '',
    warnings     TEXT NOT NULL DEFAULT '',
    wechat_msgid BIGINT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    sent_at      TIMESTAMPTZ NULL,
    delivered_at TIMESTAMPTZ NULL,
    opened_at    TIMESTAMPTZ NULL
);
CREATE INDEX messages_campaign ON messages (campaign_id, state);
CREATE INDEX messages_wechat_msgid ON messages (wechat_msgid);

-- +goose Down
DROP TABLE messages;
DROP TABLE campaign_budgets;
DROP TABLE campaign_firings;
DROP TABLE coupons;
DROP TABLE coupon_pools;
DROP TABLE follower_tags;
