-- +goose Up
-- Permanent OA QR codes made by `omo qrcode`: WeChat caps them at 100,000
-- per account, so a scene gets one and keeps it.
CREATE TABLE qr_codes (
    scene      TEXT PRIMARY KEY,
    ticket     TEXT NOT NULL,
    url        TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE qr_codes;
