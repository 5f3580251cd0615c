package sqldb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/referral"
)

const referralCodeCols = `code, owner_key, mp_openid, oa_openid, unionid, qr_ticket, qr_url, qr_expires_at, created_at`

// ReferralCodeOf returns the code owned by ownerKey, or NotFound.
func (tx *Tx) ReferralCodeOf(ownerKey string) (*referral.Code, error) {
	return getOne[referral.Code](context.Background(), tx.x, "sqldb.ReferralCodeOf", "referral code",
		`SELECT `+referralCodeCols+` FROM referral_codes WHERE owner_key = ?`, ownerKey)
}

// ReferralCode returns the code row of code, or NotFound.
func (tx *Tx) ReferralCode(code string) (*referral.Code, error) {
	return getOne[referral.Code](context.Background(), tx.x, "sqldb.ReferralCode", "referral code",
		`SELECT `+referralCodeCols+` FROM referral_codes WHERE code = ?`, code)
}

// AddReferralCode stores a new code. A taken code or owner is an error.
func (tx *Tx) AddReferralCode(c *referral.Code) error {
	_, err := tx.x.Exec(tx.db.rebind(`INSERT INTO referral_codes (`+referralCodeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		c.Code, c.OwnerKey, c.MPOpenID, c.OAOpenID, c.UnionID, c.QRTicket, c.QRURL, tsp(c.QRExpiresAt), ts(c.CreatedAt))
	return errs.Wrap(errs.Conflict, "sqldb.AddReferralCode", err)
}

// SetReferralQR caches the OA QR code of code.
func (tx *Tx) SetReferralQR(code, ticket, url string, expires time.Time) error {
	_, err := tx.x.Exec(tx.db.rebind(`UPDATE referral_codes SET qr_ticket = ?, qr_url = ?, qr_expires_at = ? WHERE code = ?`),
		ticket, url, ts(expires), code)
	return errs.Wrap(errs.Other, "sqldb.SetReferralQR", err)
}

// LockReferrer serialises, across processes, the transactions that count
// a referrer's attributions and qualified invitees, until the transaction
// ends: the daily cap and the rewards counted in one then hold however many
// omo processes share the database. On SQLite the single writer already
// does this.
func (tx *Tx) LockReferrer(key string) error {
	return errs.Wrap(errs.Other, "sqldb.LockReferrer", tx.lock("referrer:"+key))
}

const referralCols = `id, program_id, code, referrer_key, invitee_key, invitee_oa, invitee_mp, via, state, reason, created_at, decided_at`

// AddReferral stores an attribution and returns its id; false when the
// invitee is attributed already (first referrer only).
func (tx *Tx) AddReferral(r *referral.Referral) (int64, bool, error) {
	var id int64
	err := tx.x.Get(&id, tx.db.rebind(`
INSERT INTO referrals (program_id, code, referrer_key, invitee_key, invitee_oa, invitee_mp, via, state, reason, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?)
ON CONFLICT (invitee_key) DO NOTHING RETURNING id`),
		r.ProgramID, r.Code, r.ReferrerKey, r.InviteeKey, r.InviteeOA, r.InviteeMP, r.Via, string(r.State), ts(r.CreatedAt))
	if err == sql.ErrNoRows {
		return 0, false, nil
	}
	return id, err == nil, errs.Wrap(errs.Other, "sqldb.AddReferral", err)
}

// Referral returns the attribution with id, or NotFound.
func (tx *Tx) Referral(id int64) (*referral.Referral, error) {
	return getOne[referral.Referral](context.Background(), tx.x, "sqldb.Referral", "referral",
		`SELECT `+referralCols+` FROM referrals WHERE id = ?`, id)
}

// ReferralOfInvitee returns the attribution of a person, or NotFound.
func (tx *Tx) ReferralOfInvitee(key string) (*referral.Referral, error) {
	return getOne[referral.Referral](context.Background(), tx.x, "sqldb.ReferralOfInvitee", "referral",
		`SELECT `+referralCols+` FROM referrals WHERE invitee_key = ?`, key)
}

// HeldReferralOfOA returns the held attribution of the OA follower openid, or NotFound.
func (tx *Tx) HeldReferralOfOA(openid string) (*referral.Referral, error) {
	return getOne[referral.Referral](context.Background(), tx.x, "sqldb.HeldReferralOfOA", "referral",
		`SELECT `+referralCols+` FROM referrals WHERE invitee_oa = ? AND state = 'held'`, openid)
}

// DecideReferral moves a held attribution to s with reason. It reports
// false when it was not held any more (decided before).
func (tx *Tx) DecideReferral(id int64, s referral.State, reason referral.Reason, now time.Time) (bool, error) {
	res, err := tx.x.Exec(tx.db.rebind(`
UPDATE referrals SET state = ?, reason = ?, decided_at = ? WHERE id = ? AND state = 'held'`), string(s), string(reason), ts(now), id)
	if err != nil {
		return false, errs.Wrap(errs.Other, "sqldb.DecideReferral", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// CountReferrals counts a referrer's attributions in program in state
// (any state but cancelled when "") created at or after since.
func (tx *Tx) CountReferrals(program, referrerKey string, state referral.State, since time.Time) (int, error) {
	var n int
	err := tx.x.Get(&n, tx.db.rebind(`
SELECT COUNT(*) FROM referrals WHERE program_id = ? AND referrer_key = ? AND (? = '' OR state = ?) AND state <> 'cancelled' AND created_at >= ?`),
		program, referrerKey, string(state), string(state), ts(since))
	return n, errs.Wrap(errs.Other, "sqldb.CountReferrals", err)
}

// RejectReferral records a refused attribution and why.
func (tx *Tx) RejectReferral(program, code, inviteeKey string, reason referral.Reason, now time.Time) error {
	_, err := tx.x.Exec(tx.db.rebind(`
INSERT INTO referral_rejections (program_id, code, invitee_key, reason, created_at) VALUES (?, ?, ?, ?, ?)`),
		program, code, inviteeKey, string(reason), ts(now))
	return errs.Wrap(errs.Other, "sqldb.RejectReferral", err)
}

// RewardsGiven is how many rewards the referrer has in program.
func (tx *Tx) RewardsGiven(program, referrerKey string) (int, error) {
	var n int
	err := tx.x.Get(&n, tx.db.rebind(`SELECT COUNT(*) FROM referral_rewards WHERE program_id = ? AND referrer_key = ?`), program, referrerKey)
	return n, errs.Wrap(errs.Other, "sqldb.RewardsGiven", err)
}

// AddReward records the n-th reward of a referrer; false when it exists
// (given before: the key makes a repeat harmless).
func (tx *Tx) AddReward(program, referrerKey string, n int, couponCode string, now time.Time) (bool, error) {
	res, err := tx.x.Exec(tx.db.rebind(`
INSERT INTO referral_rewards (program_id, referrer_key, n, coupon_code, created_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (program_id, referrer_key, n) DO NOTHING`), program, referrerKey, n, couponCode, ts(now))
	if err != nil {
		return false, errs.Wrap(errs.Other, "sqldb.AddReward", err)
	}
	k, _ := res.RowsAffected()
	return k == 1, nil
}

// Seen records identity hashes as seen and reports whether any was seen
// before this call.
func (tx *Tx) Seen(hashes []string, now time.Time) (bool, error) {
	before := false
	if b := tx.buf; b != nil && knownAll(b.seen, hashes) {
		for _, h := range hashes {
			if b.seen[h] {
				before = true
				continue
			}
			b.seen[h] = true
			b.newSeen = append(b.newSeen, seenRow{h, now})
		}
		return before, nil
	}
	for _, h := range hashes {
		res, err := tx.x.Exec(tx.db.rebind(`INSERT INTO seen_people (hash, first_seen_at) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING`), h, ts(now))
		if err != nil {
			return false, errs.Wrap(errs.Other, "sqldb.Seen", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			before = true
		}
		if b := tx.buf; b != nil {
			if _, ok := b.seen[h]; ok {
				b.seen[h] = true // in the table now: a later cached Seen must say so
			}
		}
	}
	return before, nil
}

// SeenBefore reports whether any of the identity hashes was recorded as
// seen, and records nothing (engine.apply asks it for a new follower's
// openid, which its followers row remembers from then on).
func (tx *Tx) SeenBefore(hashes []string) (bool, error) {
	if len(hashes) == 0 {
		return false, nil
	}
	if b := tx.buf; b != nil && knownAll(b.seen, hashes) {
		for _, h := range hashes {
			if b.seen[h] {
				return true, nil
			}
		}
		return false, nil
	}
	args := make([]any, len(hashes))
	for i, h := range hashes {
		args[i] = h
	}
	var n int
	err := tx.x.Get(&n, tx.db.rebind(`SELECT COUNT(*) FROM seen_people WHERE hash IN (`+marks(len(args))+`)`), args...)
	return n > 0, errs.Wrap(errs.Other, "sqldb.SeenBefore", err)
}

func knownAll(m map[string]bool, keys []string) bool {
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}

// Secret returns the install-wide secret named key, creating a random one
// the first time.
func (db *DB) Secret(ctx context.Context, key string) ([]byte, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, errs.Wrap(errs.Other, "sqldb.Secret", err)
	}
	var val string
	err := db.Write(ctx, func(tx *Tx) error {
		if _, err := tx.x.Exec(tx.db.rebind(`INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`), key, hex.EncodeToString(b[:])); err != nil {
			return err
		}
		return tx.x.Get(&val, tx.db.rebind(`SELECT value FROM settings WHERE key = ?`), key)
	})
	if err != nil {
		return nil, errs.Wrap(errs.Other, "sqldb.Secret", err)
	}
	return hex.DecodeString(val)
}

// ReferralStats counts what program did.
func (db *DB) ReferralStats(ctx context.Context, program string) (referral.Stats, error) {
	const op = "sqldb.ReferralStats"
	st := referral.Stats{Rejected: map[referral.Reason]int{}}
	var rows []struct {
		State referral.State `db:"state"`
		N     int            `db:"n"`
	}
	if err := db.x.SelectContext(ctx, &rows, db.rebind(`SELECT state, COUNT(*) AS n FROM referrals WHERE program_id = ? GROUP BY state`), program); err != nil {
		return st, errs.Wrap(errs.Other, op, err)
	}
	for _, r := range rows {
		st.Invites += r.N
		switch r.State {
		case referral.Held:
			st.Held = r.N
		case referral.Qualified:
			st.Qualified = r.N
		case referral.Cancelled:
			st.Cancelled = r.N
		}
	}
	var rej []struct {
		Reason referral.Reason `db:"reason"`
		N      int             `db:"n"`
	}
	if err := db.x.SelectContext(ctx, &rej, db.rebind(`SELECT reason, COUNT(*) AS n FROM referral_rejections WHERE program_id = ? GROUP BY reason`), program); err != nil {
		return st, errs.Wrap(errs.Other, op, err)
	}
	for _, r := range rej {
		st.Rejected[r.Reason] = r.N
	}
	err := db.x.GetContext(ctx, &st.RewardsIssued, db.rebind(`SELECT COUNT(*) FROM referral_rewards WHERE program_id = ?`), program)
	return st, errs.Wrap(errs.Other, op, err)
}

// Leaderboard returns the top limit referrers of program by qualified invitees.
func (db *DB) Leaderboard(ctx context.Context, program string, limit int) ([]referral.LeaderboardRow, error) {
	var out []referral.LeaderboardRow
	err := db.x.SelectContext(ctx, &out, db.rebind(`
SELECT referrer_key, MIN(code) AS code,
  SUM(CASE WHEN state = 'qualified' THEN 1 ELSE 0 END) AS qualified,
  SUM(CASE WHEN state = 'held' THEN 1 ELSE 0 END) AS held
FROM referrals WHERE program_id = ?
GROUP BY referrer_key
ORDER BY qualified DESC, held DESC, referrer_key
LIMIT ?`), program, limit)
	return out, errs.Wrap(errs.Other, "sqldb.Leaderboard", err)
}

// SeenAt returns when the identity hash was first seen; ok is false if never.
func (tx *Tx) SeenAt(hash string) (at time.Time, ok bool, err error) {
	err = tx.x.Get(&at, tx.db.rebind(`SELECT first_seen_at FROM seen_people WHERE hash = ?`), hash)
	if err == sql.ErrNoRows {
		return time.Time{}, false, nil
	}
	return at, err == nil, errs.Wrap(errs.Other, "sqldb.SeenAt", err)
}
