-- +goose Up
-- The webhook's hottest table kept one index nothing in omo reads
-- (inbound_events by openid): every push paid a random-page insert for it.
DROP INDEX inbound_events_openid;

-- +goose Down
CREATE INDEX inbound_events_openid ON inbound_events (openid, created_at);
