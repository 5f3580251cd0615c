package stores

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCSV(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		coords string
		want   []Store
	}{
		{
			name: "fixed columns only",
			in:   "id,name,lat,lng\ns1,People's Square,31.2323,121.4758\n",
			want: []Store{{ID: "s1", Name: "People's Square", Lat: 31.2323, Lng: 121.4758}},
		},
		{
			name: "optional columns in any order, BOM, spaces and quotes",
			in: "\ufeffid,name,lat,lng,page,city,address\n" +
				"s1, Jing'an ,31.2243,121.4468,pages/store/index?id=s1,Shanghai,\"1 Nanjing W Rd, Jing'an\"\n",
			want: []Store{{ID: "s1", Name: "Jing'an", Lat: 31.2243, Lng: 121.4468, City: "Shanghai",
				Address: "1 Nanjing W Rd, Jing'an", Page: "pages/store/index?id=s1"}},
		},
		{
			name:   "outside china unchanged by wgs84",
			in:     "id,name,lat,lng\np1,Paris,48.8566,2.3522\n",
			coords: "wgs84",
			want:   []Store{{ID: "p1", Name: "Paris", Lat: 48.8566, Lng: 2.3522}},
		},
		{name: "header only", in: "id,name,lat,lng\n", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCSV(strings.NewReader(tt.in), tt.coords)
			if err != nil {
				t.Fatalf("ParseCSV: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseCSV (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCSVConvertsWGS84(t *testing.T) {
	got, err := ParseCSV(strings.NewReader("id,name,lat,lng\nsh,Shanghai,31.1774276,121.5272106\n"), "wgs84")
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got[0].Lat-31.17530398364597) > 1e-9 || math.Abs(got[0].Lng-121.531541859215) > 1e-9 {
		t.Errorf("got %v, %v; want the GCJ-02 of the Shanghai fixture", got[0].Lat, got[0].Lng)
	}
}

func TestParseCSVErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty file", "", []string{"line 1: missing header id,name,lat,lng"}},
		{"wrong fixed columns", "id,lat,name,lng\n", []string{`line 1: header "id,lat,name,lng" must start with id,name,lat,lng`}},
		{"unknown and repeated columns", "id,name,lat,lng,zip,city,city\n", []string{
			`line 1: unknown column "zip" (want city, address or page)`,
			`line 1: column "city" appears twice`,
		}},
		{"every bad row, with lines", "id,name,lat,lng\n" +
			"s1,A,31,121\n" + // line 2 fine
			"s2,B,abc,121\n" + // 3
			",C,31,121\n" + // 4
			"s4,,91,121\n" + // 5
			"s5,E,31,-180.5\n" + // 6
			"s1,F,31,121\n" + // 7
			"s7,G,31\n" + // 8
			"s8,H,NaN,121\n", // 9
			[]string{
				`line 3: lat "abc" is not a number`,
				`line 4: id is empty`,
				`line 5: name is empty`,
				`line 5: lat 91 is out of range [-90, 90]`,
				`line 6: lng -180.5 is out of range [-180, 180]`,
				`line 7: duplicate id "s1" (first on line 2)`,
				`line 8: wrong number of fields`,
				`line 9: lat NaN is out of range [-90, 90]`,
			}},
		{"multi-line quoted field keeps line numbers", "id,name,lat,lng,address\n" +
			"s1,A,31,121,\"two\nlines\"\n" + // lines 2-3
			"s2,B,x,121,\n", // line 4
			[]string{`line 4: lat "x" is not a number`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCSV(strings.NewReader(tt.in), "")
			if got != nil {
				t.Errorf("got %d stores alongside an error; want none", len(got))
			}
			var rows RowErrors
			if !errors.As(err, &rows) {
				t.Fatalf("err = %v; want RowErrors", err)
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCSVRejectsUnknownCoords(t *testing.T) {
	if _, err := ParseCSV(strings.NewReader("id,name,lat,lng\n"), "bd09"); err == nil {
		t.Error("ParseCSV with coords bd09 succeeded; want an error")
	}
}
