package stores

import (
	"math"
	"testing"
)

func TestWGS84ToGCJ02(t *testing.T) {
	tests := []struct {
		name       string
		wLat, wLng float64
		gLat, gLng float64
	}{
		// Published pairs: eviltransform's fixtures and the brief's Tiananmen pair.
		{"shanghai", 31.1774276, 121.5272106, 31.17530398364597, 121.531541859215},
		{"shenzhen", 22.543847, 113.912316, 22.540796131694766, 113.9171764808363},
		{"beijing", 39.911954, 116.377817, 39.91334545536069, 116.38404722455657},
		{"tiananmen", 39.908823, 116.397470, 39.910231, 116.403715},
		{"outside china is identity", 48.8566, 2.3522, 48.8566, 2.3522},
		{"south of the box is identity", 0.5, 110, 0.5, 110},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lat, lng := WGS84ToGCJ02(tt.wLat, tt.wLng)
			if math.Abs(lat-tt.gLat) > 1e-5 || math.Abs(lng-tt.gLng) > 1e-5 {
				t.Errorf("WGS84ToGCJ02(%v, %v) = %v, %v; want %v, %v", tt.wLat, tt.wLng, lat, lng, tt.gLat, tt.gLng)
			}
			bLat, bLng := GCJ02ToWGS84(tt.gLat, tt.gLng)
			if math.Abs(bLat-tt.wLat) > 1e-5 || math.Abs(bLng-tt.wLng) > 1e-5 {
				t.Errorf("GCJ02ToWGS84(%v, %v) = %v, %v; want %v, %v", tt.gLat, tt.gLng, bLat, bLng, tt.wLat, tt.wLng)
			}
		})
	}
}

func TestGCJ02ToWGS84RoundTrip(t *testing.T) {
	for lat := 18.0; lat <= 53; lat += 0.7 {
		for lng := 73.0; lng <= 135; lng += 0.9 {
			gLat, gLng := WGS84ToGCJ02(lat, lng)
			bLat, bLng := GCJ02ToWGS84(gLat, gLng)
			if math.Abs(bLat-lat) > 1e-8 || math.Abs(bLng-lng) > 1e-8 {
				t.Fatalf("round trip of %v, %v gave %v, %v", lat, lng, bLat, bLng)
			}
		}
	}
}

func TestDistance(t *testing.T) {
	const kmPerDeg = EarthRadiusKM * math.Pi / 180 // 111.195 km
	tests := []struct {
		name                   string
		lat1, lng1, lat2, lng2 float64
		want                   float64
	}{
		{"same point", 31.2, 121.5, 31.2, 121.5, 0},
		{"one degree of latitude", 10, 20, 11, 20, kmPerDeg},
		{"one degree of longitude on the equator", 0, 20, 0, 21, kmPerDeg},
		{"across the antimeridian", 0, 179.95, 0, -179.95, 0.1 * kmPerDeg},
		{"antimeridian as 180 and -180", 10, 180, 10, -180, 0},
		{"over the north pole", 89, 0, 89, 180, 2 * kmPerDeg},
		{"pole to pole", 90, 0, -90, 0, 180 * kmPerDeg},
		{"any longitude at the pole", 90, 17, 90, -120, 0},
		{"antipodes", 0, 0, 0, 180, 180 * kmPerDeg},
		{"shanghai to beijing", 31.2304, 121.4737, 39.9042, 116.4074, 1067.3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Distance(tt.lat1, tt.lng1, tt.lat2, tt.lng2)
			tol := 1e-6
			if tt.name == "shanghai to beijing" {
				tol = 1 // published figure is rounded
			}
			if math.Abs(got-tt.want) > tol {
				t.Errorf("Distance = %.6f km, want %.6f", got, tt.want)
			}
			if back := Distance(tt.lat2, tt.lng2, tt.lat1, tt.lng1); math.Abs(back-got) > 1e-9 {
				t.Errorf("Distance is not symmetric: %v vs %v", got, back)
			}
		})
	}
}
