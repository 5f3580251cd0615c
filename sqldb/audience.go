package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/errs"
)

// Audience is a campaign audience compiled to SQL: a condition over the
// followers table (aliased f) with its arguments, evaluated by the
// database over the whole follower base and never by loading followers
// into memory. Only subscribed followers are ever in an audience.
type Audience struct {
	where string
	args  []any
}

// kmPerDegree is the length of one degree of latitude (great-circle, on
// the mean Earth radius used by stores.DistanceKM).
const kmPerDegree = 6371.0088 * math.Pi / 180

// CompileAudience compiles a to SQL as seen at now, for campaign
// campaignID (never_received). A near: store that is not in the catalogue
// is Invalid, naming the store.
func (db *DB) CompileAudience(ctx context.Context, a *campaigns.Audience, campaignID string, now time.Time) (Audience, error) {
	var b audienceBuilder
	b.add("f.subscribed")
	if len(a.TagsAny) > 0 {
		b.add("EXISTS (SELECT 1 FROM follower_tags t WHERE t.openid = f.openid AND t.tag IN (" + b.list(a.TagsAny) + "))")
	}
	for _, tag := range a.TagsAll {
		b.add("EXISTS (SELECT 1 FROM follower_tags t WHERE t.openid = f.openid AND t.tag = ?)", tag)
	}
	if len(a.TagsNone) > 0 {
		b.add("NOT EXISTS (SELECT 1 FROM follower_tags t WHERE t.openid = f.openid AND t.tag IN (" + b.list(a.TagsNone) + "))")
	}
	if a.FirstScene != "" {
		b.add("f.first_scene = ?", a.FirstScene)
	}
	if p := a.FirstScenePrefix; p != "" {
		// substr, not LIKE: SQLite's LIKE ignores case and both need escapes.
		b.add("substr(f.first_scene, 1, ?) = ?", len([]rune(p)), p)
	}
	if len(a.Stores) > 0 {
		b.add("f.home_store IN (" + b.list(a.Stores) + ")")
	}
	if !a.FollowedAfter.IsZero() {
		b.add("f.subscribed_at >= ?", ts(a.FollowedAfter.Time(now)))
	}
	if !a.FollowedBefore.IsZero() {
		b.add("f.subscribed_at < ?", ts(a.FollowedBefore.Time(now)))
	}
	if a.ActiveWithin > 0 {
		b.add("f.last_event_at >= ?", ts(now.Add(-a.ActiveWithin)))
	}
	if a.InactiveFor > 0 {
		b.add("f.last_event_at < ?", ts(now.Add(-a.InactiveFor)))
	}
	if a.Near != nil {
		if err := db.near(ctx, &b, a.Near); err != nil {
			return Audience{}, err
		}
	}
	const unused = "SELECT 1 FROM coupons c WHERE c.openid = f.openid AND c.pool_id = ? AND c.state = 'issued' AND c.expires_at > ?"
	if a.HasUnusedCoupon != "" {
		b.add("EXISTS ("+unused+")", a.HasUnusedCoupon, ts(now))
	}
	if a.NoUnusedCoupon != "" {
		b.add("NOT EXISTS ("+unused+")", a.NoUnusedCoupon, ts(now))
	}
	if a.NeverReceived {
		b.add("NOT EXISTS (SELECT 1 FROM campaign_reached r WHERE r.campaign_id = ? AND r.openid = f.openid)", campaignID)
	}
	return Audience{where: strings.Join(b.conds, " AND "), args: b.args}, nil
}

// near adds "last known location within WithinKM of the store". The
// distance is the equirectangular approximation around the store (within
// 0.5% of the great circle below 100 km, outside the poles), written in
// plain arithmetic so both databases evaluate it without math functions;
// the bounding box first lets the comparison skip most rows cheaply.
func (db *DB) near(ctx context.Context, b *audienceBuilder, n *campaigns.Near) error {
	var s struct{ Lat, Lng float64 }
	err := db.x.GetContext(ctx, &s, db.rebind(`SELECT lat, lng FROM stores WHERE id = ?`), n.Store)
	if errors.Is(err, sql.ErrNoRows) {
		return errs.E(errs.Invalid, "sqldb.CompileAudience", "when.near.store: no store %q in the catalogue (omo stores import)", n.Store)
	}
	if err != nil {
		return errs.Wrap(errs.Other, "sqldb.CompileAudience", err)
	}
	dLat := n.WithinKM / kmPerDegree
	k := math.Max(math.Cos(s.Lat*math.Pi/180), 1e-6) // degrees of longitude shrink with latitude
	dLng := math.Min(dLat/k, 360)
	b.add(`EXISTS (SELECT 1 FROM follower_locations l WHERE l.openid = f.openid
  AND l.lat BETWEEN ? AND ? AND l.lng BETWEEN ? AND ?
  AND (l.lat - ?) * (l.lat - ?) + (l.lng - ?) * (l.lng - ?) * ? <= ?)`,
		s.Lat-dLat, s.Lat+dLat, s.Lng-dLng, s.Lng+dLng, s.Lat, s.Lat, s.Lng, s.Lng, k*k, dLat*dLat)
	return nil
}

type audienceBuilder struct {
	conds []string
	args  []any
}

func (b *audienceBuilder) add(cond string, args ...any) {
	b.conds = append(b.conds, cond)
	b.args = append(b.args, args...)
}

// list returns "?, ?, ..." for values and adds them to the arguments; the
// caller must add the condition holding them next.
func (b *audienceBuilder) list(values []string) string {
	for _, v := range values {
		b.args = append(b.args, v)
	}
	return marks(len(values))
}

// CountAudience counts the followers in a now.
func (db *DB) CountAudience(ctx context.Context, a Audience) (int64, error) {
	var n int64
	err := db.x.GetContext(ctx, &n, db.rebind(`SELECT COUNT(*) FROM followers f WHERE `+a.where), a.args...)
	if err != nil {
		return 0, errs.Wrap(errs.Other, "sqldb.CountAudience", fmt.Errorf("%w (audience %s)", err, a.where))
	}
	return n, nil
}

// SampleAudience returns up to n openids of the audience, in openid order.
func (db *DB) SampleAudience(ctx context.Context, a Audience, n int) ([]string, error) {
	ids := []string{}
	err := db.x.SelectContext(ctx, &ids, db.rebind(`SELECT f.openid FROM followers f WHERE `+a.where+` ORDER BY f.openid LIMIT ?`), append(a.args, n)...)
	if err != nil {
		return nil, errs.Wrap(errs.Other, "sqldb.SampleAudience", err)
	}
	return ids, nil
}

// InAudience reports whether the follower openid is in a now (the check
// at send time).
func (tx *Tx) InAudience(a Audience, openid string) (bool, error) {
	var n int
	err := tx.x.Get(&n, tx.db.rebind(`SELECT COUNT(*) FROM followers f WHERE f.openid = ? AND `+a.where), append([]any{openid}, a.args...)...)
	if err != nil {
		return false, errs.Wrap(errs.Other, "sqldb.InAudience", err)
	}
	return n > 0, nil
}

// KnownTags lists every tag some follower carries in the database (synced
// from WeChat or set by a campaign), for checking the tags audiences name.
func (db *DB) KnownTags(ctx context.Context) (map[string]bool, error) {
	var tags []string
	if err := db.x.SelectContext(ctx, &tags, `SELECT DISTINCT tag FROM follower_tags`); err != nil {
		return nil, errs.Wrap(errs.Other, "sqldb.KnownTags", err)
	}
	out := make(map[string]bool, len(tags))
	for _, t := range tags {
		out[t] = true
	}
	return out, nil
}
