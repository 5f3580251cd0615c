-- +goose Up
-- A person's referral code. The owner is known by the mini-program openid
-- they asked with, the OA openid linked through the unionid, or both.
CREATE TABLE referral_codes (
    code          TEXT PRIMARY KEY,
    owner_key     TEXT NOT NULL UNIQUE,
    mp_openid     TEXT NOT NULL DEFAULT '',
    oa_openid     TEXT NOT NULL DEFAULT '',
    unionid       TEXT NOT NULL DEFAULT '',
    qr_ticket     TEXT NOT NULL DEFAULT '',
    qr_url        TEXT NOT NULL DEFAULT '',
    qr_expires_at TIMESTAMP NULL,
    created_at    TIMESTAMP NOT NULL
);

-- An accepted attribution: one per invitee, to the first referrer only.
CREATE TABLE referrals (
    id            INTEGER PRIMARY KEY,
    program_id    TEXT NOT NULL,
    code          TEXT NOT NULL,
    referrer_key  TEXT NOT NULL,
    invitee_key   TEXT NOT NULL UNIQUE,
    invitee_oa    TEXT NOT NULL DEFAULT '',
    invitee_mp    TEXT NOT NULL DEFAULT '',
    via           TEXT NOT NULL,
    state         TEXT NOT NULL,
    reason        TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMP NOT NULL,
    decided_at    TIMESTAMP NULL
);
CREATE INDEX referrals_referrer ON referrals (program_id, referrer_key, state, created_at);

-- Every refused attribution, with why.
CREATE TABLE referral_rejections (
    id          INTEGER PRIMARY KEY,
    program_id  TEXT NOT NULL,
    code        TEXT NOT NULL,
    invitee_key TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX referral_rejections_program ON referral_rejections (program_id, reason);

-- Referrer rewards, numbered: the n-th reward is given once.
CREATE TABLE referral_rewards (
    program_id   TEXT NOT NULL,
    referrer_key TEXT NOT NULL,
    n            INTEGER NOT NULL,
    coupon_code  TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (program_id, referrer_key, n)
);

-- Salted hashes of every openid and unionid omo has seen, kept even when a
-- person's data is deleted: "never a follower before" must survive that.
CREATE TABLE seen_people (
    hash          TEXT PRIMARY KEY,
    first_seen_at TIMESTAMP NOT NULL
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- +goose Down
DROP TABLE settings;
DROP TABLE seen_people;
DROP TABLE referral_rewards;
DROP TABLE referral_rejections;
DROP TABLE referrals;
DROP TABLE referral_codes;
