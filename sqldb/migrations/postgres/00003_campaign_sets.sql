-- +goose Up
CREATE TABLE campaign_sets (
    hash       TEXT PRIMARY KEY,
    files      TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE campaign_sets;
