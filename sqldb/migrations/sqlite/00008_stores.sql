-- +goose Up
-- The store catalogue (omo stores import). Coordinates are GCJ-02.
CREATE TABLE stores (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    lat        DOUBLE PRECISION NOT NULL,
    lng        DOUBLE PRECISION NOT NULL,
    city       TEXT NOT NULL DEFAULT '',
    address    TEXT NOT NULL DEFAULT '',
    page       TEXT NOT NULL DEFAULT '',
    updated_at TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE stores;
