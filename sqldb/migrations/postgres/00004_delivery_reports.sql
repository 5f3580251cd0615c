-- +goose Up
-- TEMPLATESENDJOBFINISH reports that arrived before the worker recorded the
-- send they are about (WeChat can be faster than our own commit).
CREATE TABLE delivery_reports (
    wechat_msgid BIGINT PRIMARY KEY,
    openid       TEXT NOT NULL,
    status       TEXT NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE delivery_reports;
