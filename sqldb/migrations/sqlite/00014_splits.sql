-- +goose Up
-- A/B splits (split: in a campaign): the variant each firing ran, and the
-- messages and coupons it made, so stats count per variant ('' = a campaign
-- without split, or a reward).
ALTER TABLE campaign_firings ADD COLUMN variant TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN variant TEXT NOT NULL DEFAULT '';
ALTER TABLE coupons ADD COLUMN variant TEXT NOT NULL DEFAULT '';

-- A split's winner, written once: whichever omo inserts the row first
-- decides; from then on every firing runs the winner's do:. rates is the
-- JSON list of the variants' counts the decision was made on.
CREATE TABLE campaign_winners (
    campaign_id TEXT PRIMARY KEY,
    variant     TEXT NOT NULL,
    metric      TEXT NOT NULL,
    confidence  DOUBLE PRECISION NOT NULL,
    min_sample  BIGINT NOT NULL,
    z           DOUBLE PRECISION NOT NULL,
    p           DOUBLE PRECISION NOT NULL,
    reason      TEXT NOT NULL,
    rates       TEXT NOT NULL,
    decided_at  TIMESTAMP NOT NULL,
    decided_by  TEXT NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE campaign_winners;
ALTER TABLE coupons DROP COLUMN variant;
ALTER TABLE messages DROP COLUMN variant;
ALTER TABLE campaign_firings DROP COLUMN variant;
