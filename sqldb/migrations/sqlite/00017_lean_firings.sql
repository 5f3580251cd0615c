-- +goose Up
-- Every firing wrote two index entries that start (campaign_id, openid):
-- campaign_firings_follower (..., fired_at) and campaign_firings_store
-- (..., store_id, fired_at). Every read of the table names the campaign
-- (and the follower, for the limits), which the second serves as well: a
-- follower has few firings of one campaign, so the last one's time is found
-- among them without the first index's order.
DROP INDEX campaign_firings_follower;

-- +goose Down
CREATE INDEX campaign_firings_follower ON campaign_firings (campaign_id, openid, fired_at);
