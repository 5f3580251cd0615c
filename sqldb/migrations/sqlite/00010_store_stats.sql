-- +goose Up
-- A follower's home store: the first store:<id> scene they followed or scanned through.
ALTER TABLE followers ADD COLUMN home_store TEXT NOT NULL DEFAULT '';
-- The store a coupon was issued through (its QR scene, or the store a location campaign promoted).
ALTER TABLE coupons ADD COLUMN issued_store TEXT NOT NULL DEFAULT '';
CREATE INDEX coupons_issued_store ON coupons (issued_store);
CREATE INDEX coupons_redeemed_store ON coupons (store_id, state);

-- Follows and scans through a store's QR code.
CREATE TABLE store_visits (
    id           INTEGER PRIMARY KEY,
    store_id     TEXT NOT NULL,
    openid       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    new_follower BOOLEAN NOT NULL,
    at           TIMESTAMP NOT NULL
);
CREATE INDEX store_visits_store ON store_visits (store_id, kind);

-- +goose Down
DROP TABLE store_visits;
DROP INDEX coupons_redeemed_store;
DROP INDEX coupons_issued_store;
ALTER TABLE coupons DROP COLUMN issued_store;
ALTER TABLE followers DROP COLUMN home_store;
