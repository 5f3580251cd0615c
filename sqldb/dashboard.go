package sqldb

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/stores"
)

// The dashboard's queries (issue 11). Days are the caller's: it passes the
// boundaries of its days (midnight to midnight in Asia/Shanghai, computed
// in Go) and every query buckets rows by them in SQL with one CASE, so
// SQLite and PostgreSQL run the same statement and agree on every day
// whatever their session time zone.

// dayCase returns "CASE WHEN col < ? THEN 0 WHEN col < ? THEN 1 ... END"
// for the days between bounds (len(bounds)-1 of them) with its arguments,
// the upper bound of each day. Rows below bounds[0] must be filtered out by
// the caller's WHERE.
func dayCase(col string, bounds []time.Time) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, len(bounds)-1)
	b.WriteString("CASE")
	for i, hi := range bounds[1:] {
		b.WriteString(" WHEN " + col + " < ? THEN ")
		b.WriteString(strconv.Itoa(i))
		args = append(args, ts(hi))
	}
	b.WriteString(" END")
	return b.String(), args
}

// FollowDay is one day's follows and unfollows, each follow by the source
// its push names: a store QR code (EventKey qrscene_store:...), a referral
// QR code (qrscene_ref:...), another QR scene, or none (search, a name
// card, an article: WeChat does not say which in the push).
type FollowDay struct {
	Follows   int
	Unfollows int
	Store     int
	Referral  int
	Search    int // no scene
	Other     int // a QR scene that is neither store: nor ref:
}

// FollowsByDay counts the subscribe and unsubscribe pushes (each once:
// retries are deduplicated on arrival) in each of the days between bounds,
// by their CreateTime. It returns len(bounds)-1 days; bounds must be
// ascending and at least two.
func (db *DB) FollowsByDay(ctx context.Context, bounds []time.Time) ([]FollowDay, error) {
	const op = "sqldb.FollowsByDay"
	if len(bounds) < 2 {
		return nil, errs.E(errs.Invalid, op, "need at least two day bounds")
	}
	day, args := dayCase("created_at", bounds)
	// The dedupe key is openid|unix|type|EventKey: the scene is read from it,
	// not from the stored XML, so no payload is parsed or even read.
	q := `SELECT day, type, src, COUNT(*) AS n FROM (
  SELECT ` + day + ` AS day, type,
    CASE WHEN type <> 'subscribe' THEN ''
         WHEN dedupe_key LIKE '%|qrscene_store:%' THEN 'store'
         WHEN dedupe_key LIKE '%|qrscene_ref:%' THEN 'referral'
         WHEN dedupe_key LIKE '%|subscribe|' THEN 'search'
         ELSE 'other' END AS src
  FROM inbound_events
  WHERE type IN ('subscribe', 'unsubscribe') AND created_at >= ? AND created_at < ?
) t GROUP BY day, type, src`
	args = append(args, ts(bounds[0]), ts(bounds[len(bounds)-1]))
	var rows []struct {
		Day  int    `db:"day"`
		Type string `db:"type"`
		Src  string `db:"src"`
		N    int    `db:"n"`
	}
	if err := db.x.SelectContext(ctx, &rows, db.rebind(q), args...); err != nil {
		return nil, errs.Wrap(errs.Other, op, err)
	}
	out := make([]FollowDay, len(bounds)-1)
	for _, r := range rows {
		d := &out[r.Day]
		if r.Type == "unsubscribe" {
			d.Unfollows += r.N
			continue
		}
		d.Follows += r.N
		switch r.Src {
		case "store":
			d.Store += r.N
		case "referral":
			d.Referral += r.N
		case "search":
			d.Search += r.N
		default:
			d.Other += r.N
		}
	}
	return out, nil
}

// FiringDay is what a campaign did on one day.
type FiringDay struct {
	Fired int // firings (a schedule campaign fires once per recipient it sends to)
	Sent  int // messages WeChat accepted that day
}

// FiringsByDay counts campaign's firings and sends in each of the days
// between bounds: a firing on the day it fired (CampaignStats' fired, for
// every trigger), a message on the day WeChat accepted it.
func (db *DB) FiringsByDay(ctx context.Context, campaign string, bounds []time.Time) ([]FiringDay, error) {
	const op = "sqldb.FiringsByDay"
	if len(bounds) < 2 {
		return nil, errs.E(errs.Invalid, op, "need at least two day bounds")
	}
	lo, hi := ts(bounds[0]), ts(bounds[len(bounds)-1])
	out := make([]FiringDay, len(bounds)-1)
	count := func(q string, where []any, add func(d *FiringDay, n int)) error {
		var rows []struct {
			Day int `db:"day"`
			N   int `db:"n"`
		}
		if err := db.x.SelectContext(ctx, &rows, db.rebind(q), where...); err != nil {
			return errs.Wrap(errs.Other, op, err)
		}
		for _, r := range rows {
			add(&out[r.Day], r.N)
		}
		return nil
	}
	day, args := dayCase("fired_at", bounds)
	err := count(`SELECT day, COUNT(*) AS n FROM (SELECT `+day+` AS day FROM campaign_firings
WHERE campaign_id = ? AND fired_at >= ? AND fired_at < ?) t GROUP BY day`,
		append(args, campaign, lo, hi), func(d *FiringDay, n int) { d.Fired += n })
	if err != nil {
		return nil, err
	}
	day, args = dayCase("sent_at", bounds)
	err = count(`SELECT day, COUNT(*) AS n FROM (SELECT `+day+` AS day FROM messages
WHERE campaign_id = ? AND sent_at >= ? AND sent_at < ?) t GROUP BY day`,
		append(args, campaign, lo, hi), func(d *FiringDay, n int) { d.Sent += n })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// StoreStatsAll returns stores.Stats (as StoreStats counts them) of every
// store with any visit or coupon, by store id, in four grouped queries
// rather than five per store.
func (db *DB) StoreStatsAll(ctx context.Context) (map[string]stores.Stats, error) {
	const op = "sqldb.StoreStatsAll"
	out := map[string]stores.Stats{}
	var visits []struct {
		Store string `db:"store_id"`
		Kind  string `db:"kind"`
		N     int    `db:"n"`
		New   int    `db:"new_followers"`
	}
	err := db.x.SelectContext(ctx, &visits, `SELECT store_id, kind, COUNT(*) AS n,
  COALESCE(SUM(CASE WHEN new_follower THEN 1 ELSE 0 END), 0) AS new_followers
FROM store_visits GROUP BY store_id, kind`)
	if err != nil {
		return nil, errs.Wrap(errs.Other, op, err)
	}
	for _, v := range visits {
		st := out[v.Store]
		switch v.Kind {
		case "scan":
			st.Scans += v.N
		case "follow":
			st.Follows += v.N
			st.NewFollowers += v.New
		}
		out[v.Store] = st
	}
	var coupons []struct {
		Store string `db:"store_id"`
		N     int    `db:"n"`
	}
	if err := db.x.SelectContext(ctx, &coupons, `SELECT issued_store AS store_id, COUNT(*) AS n FROM coupons
WHERE issued_store <> '' GROUP BY issued_store`); err != nil {
		return nil, errs.Wrap(errs.Other, op, err)
	}
	for _, c := range coupons {
		st := out[c.Store]
		st.CouponsIssued = c.N
		out[c.Store] = st
	}
	coupons = coupons[:0]
	if err := db.x.SelectContext(ctx, &coupons, `SELECT store_id, COUNT(*) AS n FROM coupons
WHERE state = 'redeemed' AND store_id <> '' GROUP BY store_id`); err != nil {
		return nil, errs.Wrap(errs.Other, op, err)
	}
	for _, c := range coupons {
		st := out[c.Store]
		st.CouponsRedeemed = c.N
		out[c.Store] = st
	}
	return out, nil
}

// SendCount is how many messages of one kind ended in one state with one
// WeChat errcode (0: none).
type SendCount struct {
	Kind    string `db:"kind" json:"kind"`
	Outcome string `db:"state" json:"outcome"` // pending, sent, delivered, failed
	Errcode int    `db:"errcode" json:"errcode"`
	N       int    `db:"n" json:"count"`
}

// SendCounts counts the messages by kind, state and errcode, in that order.
func (db *DB) SendCounts(ctx context.Context) ([]SendCount, error) {
	out := []SendCount{}
	err := db.x.SelectContext(ctx, &out, `SELECT kind, state, errcode, COUNT(*) AS n FROM messages
GROUP BY kind, state, errcode ORDER BY kind, state, errcode`)
	return out, errs.Wrap(errs.Other, "sqldb.SendCounts", err)
}

// OutboxPendingByKind counts the pending outbox items by kind.
func (db *DB) OutboxPendingByKind(ctx context.Context) (map[string]int, error) {
	var rows []struct {
		Kind string `db:"kind"`
		N    int    `db:"n"`
	}
	err := db.x.SelectContext(ctx, &rows, `SELECT kind, COUNT(*) AS n FROM outbox WHERE state = 'pending' GROUP BY kind`)
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.Kind] = r.N
	}
	return out, errs.Wrap(errs.Other, "sqldb.OutboxPendingByKind", err)
}
