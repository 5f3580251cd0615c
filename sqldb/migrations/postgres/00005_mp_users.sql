-- +goose Up
-- Mini-program users, by their mini-program openid (not the OA's). One with
-- the same unionid as an OA follower is the same person (DESIGN.md §3).
CREATE TABLE mp_users (
    openid        TEXT PRIMARY KEY,
    unionid       TEXT NOT NULL DEFAULT '',
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_login_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX mp_users_unionid ON mp_users (unionid) WHERE unionid <> '';

-- +goose Down
DROP TABLE mp_users;
