package stores

import (
	"math"
	"slices"
	"strings"
)

// Hit is one store found by Index.Nearest, with its great-circle distance
// from the query point.
type Hit struct {
	Store
	DistanceKM float64
}

// bandDeg is the height of a latitude band. 0.1° (11 km) keeps a typical
// 5–10 km query within two or three bands.
const bandDeg = 0.1

const nBands = int(180 / bandDeg)

// firstRadiusKM is the first search radius when the caller's limit is
// larger; it grows fourfold until k stores are found.
const firstRadiusKM = 10.0

// Index answers nearest-store queries. It is immutable after NewIndex, so
// any number of goroutines may query it at once.
//
// Stores are bucketed into latitude bands of bandDeg and sorted by
// longitude inside each band, so a query binary-searches the longitude
// window of each band its search cap touches and measures only those
// stores. Memory is one point (40 bytes) per store plus a copy of the Store
// values and a 7 KB band table.
type Index struct {
	stores []Store
	pts    []point
	bands  [nBands + 1]int32 // pts[bands[b]:bands[b+1]] lie in band b
}

type point struct {
	key    float64 // longitude normalised to [-180, 180), the sort key
	lat    float64
	lng    float64
	cosLat float64
	i      int32 // position in Index.stores
}

// NewIndex builds an index over a copy of stores. Stores whose coordinates
// are not finite or lie outside [-90, 90] × [-180, 180] are left out.
func NewIndex(stores []Store) *Index {
	x := &Index{stores: slices.Clone(stores)}
	x.pts = make([]point, 0, len(stores))
	for i, s := range x.stores {
		if !(s.Lat >= -90 && s.Lat <= 90 && s.Lng >= -180 && s.Lng <= 180) {
			continue
		}
		x.pts = append(x.pts, point{key: normLng(s.Lng), lat: s.Lat, lng: s.Lng, cosLat: math.Cos(s.Lat * rad), i: int32(i)})
	}
	slices.SortFunc(x.pts, func(a, b point) int {
		if c := band(a.lat) - band(b.lat); c != 0 {
			return c
		}
		if a.key != b.key {
			if a.key < b.key {
				return -1
			}
			return 1
		}
		return int(a.i - b.i)
	})
	b := 0
	for j, p := range x.pts {
		for ; b <= band(p.lat); b++ {
			x.bands[b] = int32(j)
		}
	}
	for ; b <= nBands; b++ {
		x.bands[b] = int32(len(x.pts))
	}
	return x
}

// Len returns the number of stores the index can return.
func (x *Index) Len() int { return len(x.pts) }

// Nearest returns up to k stores whose great-circle distance from (lat, lng)
// is at most withinKM, nearest first; stores at the same distance are
// ordered by ID. withinKM = +Inf means no limit; withinKM <= 0, k <= 0 or a
// non-finite query point return nil. Longitudes wrap, so the antimeridian
// and the poles need no special care from the caller.
func (x *Index) Nearest(lat, lng, withinKM float64, k int) []Hit {
	if x == nil || len(x.pts) == 0 || k <= 0 || !(withinKM > 0) ||
		math.IsNaN(lat) || math.IsInf(lat, 0) || math.IsNaN(lng) || math.IsInf(lng, 0) {
		return nil
	}
	lat = max(-90, min(90, lat))
	q := query{lat: lat, lng: lng, key: normLng(lng), cosLat: math.Cos(lat * rad), k: k}
	limit := min(withinKM, math.Pi*EarthRadiusKM) // half the circumference covers the globe
	for r := min(limit, firstRadiusKM); ; r = min(4*r, limit) {
		q.best = q.best[:0]
		x.scan(&q, r)
		if len(q.best) >= k || r >= limit {
			break
		}
	}
	hits := make([]Hit, len(q.best))
	for j, c := range q.best {
		hits[j] = Hit{Store: x.stores[c.i], DistanceKM: c.d}
	}
	return hits
}

type query struct {
	lat, lng, key, cosLat float64
	k                     int
	best                  []cand // sorted by (d, ID), at most k long
}

type cand struct {
	d float64
	i int32
}

// scan offers q every store within r km. It visits the bands and longitude
// windows of a box that contains the spherical cap of radius r.
func (x *Index) scan(q *query, r float64) {
	alpha := r / EarthRadiusKM // angular radius, radians
	const eps = 1e-6           // degrees of slack against rounding, ~0.1 m
	dLat := alpha/rad + eps
	latLo, latHi := q.lat-dLat, q.lat+dLat
	dLng := 180.0
	if latLo > -90 && latHi < 90 && alpha < math.Pi/2 {
		// The cap misses both poles; its longitude half-width is exact.
		if s := math.Sin(alpha) / q.cosLat; s < 1 {
			dLng = math.Asin(s)/rad + eps
		}
	}
	for b := band(latLo); b <= band(latHi); b++ {
		lo, hi := int(x.bands[b]), int(x.bands[b+1])
		switch {
		case dLng >= 180:
			x.visit(q, r, lo, hi)
		case q.key-dLng < -180:
			x.window(q, r, lo, hi, -180, q.key+dLng)
			x.window(q, r, lo, hi, q.key-dLng+360, 180)
		case q.key+dLng >= 180:
			x.window(q, r, lo, hi, q.key-dLng, 180)
			x.window(q, r, lo, hi, -180, q.key+dLng-360)
		default:
			x.window(q, r, lo, hi, q.key-dLng, q.key+dLng)
		}
	}
}

// window visits the points of pts[lo:hi] whose key lies in [from, to].
func (x *Index) window(q *query, r float64, lo, hi int, from, to float64) {
	start := lo + searchKey(x.pts[lo:hi], from)
	end := start
	for end < hi && x.pts[end].key <= to {
		end++
	}
	x.visit(q, r, start, end)
}

func (x *Index) visit(q *query, r float64, lo, hi int) {
	for j := lo; j < hi; j++ {
		p := &x.pts[j]
		d := haversine(q.lat, q.lng, q.cosLat, p.lat, p.lng, p.cosLat)
		if d <= r {
			x.offer(q, cand{d: d, i: p.i})
		}
	}
}

// offer inserts c into q.best if it is among the k best so far.
func (x *Index) offer(q *query, c cand) {
	n := len(q.best)
	if n == q.k && !x.less(c, q.best[n-1]) {
		return
	}
	j := n
	for j > 0 && x.less(c, q.best[j-1]) {
		j--
	}
	if n < q.k {
		q.best = append(q.best, cand{})
	}
	copy(q.best[j+1:], q.best[j:])
	q.best[j] = c
}

func (x *Index) less(a, b cand) bool {
	if a.d != b.d {
		return a.d < b.d
	}
	if c := strings.Compare(x.stores[a.i].ID, x.stores[b.i].ID); c != 0 {
		return c < 0
	}
	return a.i < b.i
}

// searchKey returns the first position in pts whose key is >= v.
func searchKey(pts []point, v float64) int {
	lo, hi := 0, len(pts)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if pts[m].key < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func band(lat float64) int {
	return max(0, min(nBands-1, int((lat+90)/bandDeg)))
}

// normLng maps any longitude to [-180, 180).
func normLng(lng float64) float64 {
	l := math.Mod(lng+180, 360)
	if l < 0 {
		l += 360
	}
	return l - 180
}
