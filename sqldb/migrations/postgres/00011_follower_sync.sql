-- +goose Up
-- The follower sync (omo followers sync, followers.sync_every). One row: the
-- pass under way or last completed, the cursor it continues from (WeChat's
-- next_openid, saved with each page's followers), and the lease that lets
-- one omo process at a time run it.
CREATE TABLE follower_sync (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    pass            BIGINT NOT NULL DEFAULT 0,
    running         BOOLEAN NOT NULL DEFAULT FALSE,
    next_openid     TEXT NOT NULL DEFAULT '',
    pass_started_at TIMESTAMPTZ NULL,
    pages           BIGINT NOT NULL DEFAULT 0,
    synced          BIGINT NOT NULL DEFAULT 0,
    total           BIGINT NOT NULL DEFAULT 0,
    completed_at    TIMESTAMPTZ NULL,
    unfollowed      BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    retry_at        TIMESTAMPTZ NULL,
    lease_owner     TEXT NOT NULL DEFAULT '',
    lease_until     TIMESTAMPTZ NULL,
    updated_at      TIMESTAMPTZ NULL
);
INSERT INTO follower_sync (id) VALUES (1);

-- The last pass that found the follower in WeChat's list (0 = none yet):
-- a completed pass marks the followers it did not find unfollowed.
ALTER TABLE followers ADD COLUMN sync_pass BIGINT NOT NULL DEFAULT 0;

-- A tag the sync read from WeChat (a sync replaces these); a tag a campaign
-- set stays until WeChat reports it too.
ALTER TABLE follower_tags ADD COLUMN synced BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE follower_tags DROP COLUMN synced;
ALTER TABLE followers DROP COLUMN sync_pass;
DROP TABLE follower_sync;
