-- +goose Up
-- inbound_events is the webhook's hottest table. Its index by openid was
-- read by nothing in omo and cost every push a random-page insert; the
-- dashboard's follows per day read it by type and time instead, an index
-- that grows at its end (pushes arrive in time order).
DROP INDEX inbound_events_openid;
CREATE INDEX inbound_events_type_time ON inbound_events (type, created_at);

-- +goose Down
DROP INDEX inbound_events_type_time;
CREATE INDEX inbound_events_openid ON inbound_events (openid, created_at);
