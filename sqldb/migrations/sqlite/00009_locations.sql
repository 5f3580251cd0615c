-- +goose Up
-- Location campaigns count their cooldown per follower and store.
ALTER TABLE campaign_firings ADD COLUMN store_id TEXT NOT NULL DEFAULT '';
CREATE INDEX campaign_firings_store ON campaign_firings (campaign_id, openid, store_id, fired_at);

-- A follower's last known location (LOCATION event or location message), GCJ-02.
CREATE TABLE follower_locations (
    openid    TEXT PRIMARY KEY,
    lat       DOUBLE PRECISION NOT NULL,
    lng       DOUBLE PRECISION NOT NULL,
    precision DOUBLE PRECISION NOT NULL,
    at        TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE follower_locations;
DROP INDEX campaign_firings_store;
ALTER TABLE campaign_firings DROP COLUMN store_id;
