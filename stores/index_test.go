package stores

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	gocmp "github.com/google/go-cmp/cmp"
)

const kmPerDeg = EarthRadiusKM * math.Pi / 180

// fullScan is the reference: every store measured, filtered, sorted.
func fullScan(stores []Store, lat, lng, withinKM float64, k int) []Hit {
	if k <= 0 || !(withinKM > 0) {
		return nil
	}
	var hits []Hit
	for _, s := range stores {
		if d := Distance(lat, lng, s.Lat, s.Lng); d <= withinKM {
			hits = append(hits, Hit{Store: s, DistanceKM: d})
		}
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		return cmp.Or(cmp.Compare(a.DistanceKM, b.DistanceKM), strings.Compare(a.ID, b.ID))
	})
	return hits[:min(k, len(hits))]
}

func ids(hits []Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	return out
}

func TestNearest(t *testing.T) {
	// Points on the equator are exactly kmPerDeg apart per degree of longitude.
	equator := []Store{
		{ID: "b", Lng: 0.1}, {ID: "a", Lng: -0.1}, // equidistant from 0,0: ordered by ID
		{ID: "c", Lng: 0.2},
		{ID: "inside", Lat: 1, Lng: 4.999 / kmPerDeg}, // from (1, 0): 4.999 km
		{ID: "outside", Lat: 1, Lng: -5.001 / kmPerDeg},
	}
	tests := []struct {
		name     string
		stores   []Store
		lat, lng float64
		within   float64
		k        int
		want     []string
	}{
		{"equidistant ordered by id", equator, 0, 0, 100, 5, []string{"a", "b", "c"}},
		{"k limit", equator, 0, 0, 100, 2, []string{"a", "b"}},
		{"k one", equator, 0, 0.19, 100, 1, []string{"c"}},
		{"just inside and just outside 5 km", equator, 1, 0, 5, 10, []string{"inside"}},
		{"radius too small", equator, 0, 0, 11, 10, nil},
		{"no limit", equator, 60, 0, math.Inf(1), 1, []string{"inside"}},
		{"zero k", equator, 0, 0, 100, 0, nil},
		{"zero radius", equator, 0, 0, 0, 3, nil},
		{"empty index", nil, 0, 0, 100, 3, nil},
		// 179.95 and -179.95 are 0.05° either side of 180 but not bit-for-bit
		// equidistant in float64; the full-scan comparison fixes their order.
		{"antimeridian from 180", []Store{{ID: "w", Lng: -179.95}, {ID: "e", Lng: 179.95}, {ID: "far", Lng: 179}},
			0, 180, 10, 5, []string{"w", "e"}},
		{"antimeridian from -180", []Store{{ID: "w", Lng: -179.9}, {ID: "e", Lng: 179.95}},
			0, -180, 12, 5, []string{"e", "w"}},
		{"north pole across all longitudes", []Store{{ID: "n0", Lat: 89.99, Lng: 0}, {ID: "n1", Lat: 89.98, Lng: 179}, {ID: "n2", Lat: 89.995, Lng: -90}, {ID: "s", Lat: 89, Lng: 0}},
			90, 0, 5, 5, []string{"n2", "n0", "n1"}},
		{"near the pole, the far side is closer", []Store{{ID: "same", Lat: 89.9, Lng: 10}, {ID: "over", Lat: 89.99, Lng: -170}},
			89.96, 10, 50, 1, []string{"over"}},
		{"south pole", []Store{{ID: "sp", Lat: -90, Lng: 0}, {ID: "x", Lat: -89, Lng: 45}},
			-89.999, 123, 1, 5, []string{"sp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NewIndex(tt.stores).Nearest(tt.lat, tt.lng, tt.within, tt.k)
			if diff := gocmp.Diff(tt.want, ids(got)); len(got)+len(tt.want) > 0 && diff != "" {
				t.Errorf("Nearest (-want +got):\n%s", diff)
			}
			if diff := gocmp.Diff(fullScan(tt.stores, tt.lat, tt.lng, tt.within, tt.k), got); len(got) > 0 && diff != "" {
				t.Errorf("Nearest differs from a full scan (-scan +index):\n%s", diff)
			}
		})
	}
}

func TestNearestDistances(t *testing.T) {
	x := NewIndex([]Store{{ID: "e", Lng: 179.95}, {ID: "w", Lng: -179.95}})
	got := x.Nearest(0, 180, 10, 2)
	for _, h := range got {
		if math.Abs(h.DistanceKM-0.05*kmPerDeg) > 1e-6 {
			t.Errorf("%s at %.6f km, want %.6f", h.ID, h.DistanceKM, 0.05*kmPerDeg)
		}
	}
}

func TestNearestMatchesFullScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name   string
		stores func() []Store
	}{
		{"world", func() []Store { return randomStores(rng, 5000, -90, 90, -180, 180) }},
		{"china", func() []Store { return randomStores(rng, 5000, 18, 53, 73, 135) }},
		{"antimeridian and poles", func() []Store {
			s := randomStores(rng, 2500, -90, 90, 179, 180)
			s = append(s, randomStores(rng, 2500, 85, 90, -180, -179)...)
			for i := range s {
				s[i].ID = fmt.Sprintf("m%05d", i)
			}
			return s
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stores := tt.stores()
			x := NewIndex(stores)
			for q := range 500 {
				s := stores[rng.IntN(len(stores))]
				lat := max(-90, min(90, s.Lat+rng.NormFloat64()))
				lng := s.Lng + rng.NormFloat64()
				within := []float64{1, 8, 50, 500, 5000, math.Inf(1)}[q%6]
				k := 1 + rng.IntN(20)
				want := fullScan(stores, lat, lng, within, k)
				got := x.Nearest(lat, lng, within, k)
				if len(want) == 0 && len(got) == 0 {
					continue
				}
				if diff := gocmp.Diff(want, got); diff != "" {
					t.Fatalf("query %d (%v, %v, %v km, k=%d) (-scan +index):\n%s", q, lat, lng, within, k, diff)
				}
			}
		})
	}
}

func TestNearestEquidistantTies(t *testing.T) {
	// Eight stores at the same distance, east and west of the query: the
	// order is by ID whatever the input order.
	var twins []Store
	for i, id := range []string{"h", "c", "a", "g", "e", "b", "f", "d"} {
		twins = append(twins, Store{ID: id, Lng: float64(i%2*2-1) * 0.01})
	}
	got := ids(NewIndex(twins).Nearest(0, 0, 5, 8))
	if want := []string{"a", "b", "c", "d", "e", "f", "g", "h"}; !slices.Equal(got, want) {
		t.Errorf("got %v; want %v", got, want)
	}
}

func TestIndexMemory(t *testing.T) {
	stores := randomStores(rand.New(rand.NewPCG(3, 4)), 100_000, 18, 53, 73, 135)
	t.Logf("index of %d stores: %.0f bytes per store (a %d-byte Store copy, a %d-byte point, the band table)",
		len(stores), indexBytesPerStore(stores), unsafe.Sizeof(Store{}), unsafe.Sizeof(point{}))
}

func indexBytesPerStore(stores []Store) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x := NewIndex(stores)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(x)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(len(stores))
}

func randomStores(rng *rand.Rand, n int, latLo, latHi, lngLo, lngHi float64) []Store {
	s := make([]Store, n)
	for i := range s {
		s[i] = Store{
			ID:  fmt.Sprintf("s%06d", i),
			Lat: latLo + rng.Float64()*(latHi-latLo),
			Lng: lngLo + rng.Float64()*(lngHi-lngLo),
		}
	}
	return s
}

// chinaQueries returns points within about 3 km of random stores.
func chinaQueries(rng *rand.Rand, stores []Store, n int) [][2]float64 {
	qs := make([][2]float64, n)
	for i := range qs {
		s := stores[rng.IntN(len(stores))]
		qs[i] = [2]float64{s.Lat + (rng.Float64()-0.5)*0.05, s.Lng + (rng.Float64()-0.5)*0.05}
	}
	return qs
}

func BenchmarkNearest(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	stores := randomStores(rng, 100_000, 18, 53, 73, 135)
	b.ReportMetric(indexBytesPerStore(stores), "index-B/store")
	x := NewIndex(stores)
	qs := chinaQueries(rng, stores, 4096)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		q := qs[i%len(qs)]
		x.Nearest(q[0], q[1], 8, 1)
	}
	b.StopTimer()
	lat := make([]time.Duration, len(qs))
	for i, q := range qs {
		start := time.Now()
		x.Nearest(q[0], q[1], 8, 1)
		lat[i] = time.Since(start)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

func BenchmarkNearestFullScan(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	stores := randomStores(rng, 100_000, 18, 53, 73, 135)
	qs := chinaQueries(rng, stores, 4096)
	for i := 0; b.Loop(); i++ {
		q := qs[i%len(qs)]
		fullScan(stores, q[0], q[1], 8, 1)
	}
}
