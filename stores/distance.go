package stores

import "math"

// EarthRadiusKM is the mean Earth radius (IUGG R1) used for great-circle
// distances.
const EarthRadiusKM = 6371.0088

const rad = math.Pi / 180

// Distance returns the great-circle distance in kilometres between two
// points given in degrees, by the haversine formula. It is correct across
// the antimeridian (longitudes are compared modulo 360) and at the poles.
func Distance(lat1, lng1, lat2, lng2 float64) float64 {
	return haversine(lat1, lng1, math.Cos(lat1*rad), lat2, lng2, math.Cos(lat2*rad))
}

// haversine takes each latitude's cosine precomputed so the index can cache
// it; Distance and Index share it so their results are bit-identical.
func haversine(lat1, lng1, cos1, lat2, lng2, cos2 float64) float64 {
	sLat := math.Sin((lat2 - lat1) * rad / 2)
	sLng := math.Sin((lng2 - lng1) * rad / 2)
	a := sLat*sLat + cos1*cos2*sLng*sLng
	return 2 * EarthRadiusKM * math.Asin(math.Sqrt(min(1, a)))
}
