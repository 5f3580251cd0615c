package stores

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Store is one physical shop of the brand. Lat and Lng are GCJ-02 degrees,
// the datum WeChat uses for the locations followers share.
type Store struct {
	ID      string
	Name    string
	Lat     float64
	Lng     float64
	City    string
	Address string
	Page    string // mini-program page that deep-links to the store
}

// Coordinate systems accepted by ParseCSV.
const (
	CoordsGCJ02 = "gcj02"
	CoordsWGS84 = "wgs84"
)

// RowError is one problem found on one line of an imported file.
type RowError struct {
	Line int // 1-based line of the CSV record (line 1 is the header)
	Msg  string
}

// Error returns "line N: msg".
func (e RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// RowErrors lists every problem of an import, in line order. ParseCSV
// returns it (never wrapped) whenever the file is rejected.
type RowErrors []RowError

// Error returns one "line N: msg" per line of text.
func (es RowErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

var fixedColumns = []string{"id", "name", "lat", "lng"}

var optionalColumns = map[string]bool{"city": true, "address": true, "page": true}

// ParseCSV reads a store catalogue: a header "id,name,lat,lng" followed by
// any of the optional columns city, address and page in any order, then one
// store per record. coords names the datum of the file: "" or "gcj02" keeps
// the coordinates, "wgs84" converts them to GCJ-02. A leading UTF-8 BOM is
// tolerated. On any problem it returns nil and a RowErrors listing every
// bad row with its line number, so an import is all or nothing.
func ParseCSV(r io.Reader, coords string) ([]Store, error) {
	convert := false
	switch strings.ToLower(strings.TrimSpace(coords)) {
	case "", CoordsGCJ02:
	case CoordsWGS84:
		convert = true
	default:
		return nil, fmt.Errorf("stores: coordinate system %q is not gcj02 or wgs84", coords)
	}
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, RowErrors{{Line: 1, Msg: "missing header id,name,lat,lng"}}
	}
	if err != nil {
		return nil, RowErrors{{Line: 1, Msg: csvMessage(err)}}
	}
	cols, errs := parseHeader(header)
	if len(errs) > 0 {
		return nil, errs
	}
	cr.FieldsPerRecord = len(header)
	p := rowParser{cols: cols, convert: convert, firstLine: map[string]int{}}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			p.errs = append(p.errs, RowError{Line: line, Msg: csvMessage(err)})
			if errors.Is(err, csv.ErrFieldCount) {
				continue
			}
			break // a quoting error leaves the reader out of step; stop here
		}
		p.row(line, rec)
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return p.stores, nil
}

// csvMessage drops the "record on line N:" prefix csv adds, since RowError
// carries the line itself.
func csvMessage(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			return "wrong number of fields"
		}
		return pe.Err.Error()
	}
	return err.Error()
}

// parseHeader maps column names to positions; the fixed four come first.
func parseHeader(header []string) (map[string]int, RowErrors) {
	cols := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		header[i] = h
	}
	if len(header) < len(fixedColumns) || strings.Join(header[:4], ",") != "id,name,lat,lng" {
		return nil, RowErrors{{Line: 1, Msg: fmt.Sprintf("header %q must start with id,name,lat,lng", strings.Join(header, ","))}}
	}
	var errs RowErrors
	for i, h := range header {
		switch {
		case i < len(fixedColumns):
		case !optionalColumns[h]:
			errs = append(errs, RowError{Line: 1, Msg: fmt.Sprintf("unknown column %q (want city, address or page)", h)})
			continue
		case cols[h] != 0:
			errs = append(errs, RowError{Line: 1, Msg: fmt.Sprintf("column %q appears twice", h)})
			continue
		}
		cols[h] = i
	}
	return cols, errs
}

type rowParser struct {
	cols      map[string]int
	convert   bool
	firstLine map[string]int // id -> line it first appeared on
	stores    []Store
	errs      RowErrors
}

func (p *rowParser) row(line int, rec []string) {
	field := func(name string) string {
		i, ok := p.cols[name]
		if !ok {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	bad := func(format string, args ...any) {
		p.errs = append(p.errs, RowError{Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	s := Store{ID: field("id"), Name: field("name"), City: field("city"), Address: field("address"), Page: field("page")}
	nErrs := len(p.errs)
	if s.ID == "" {
		bad("id is empty")
	} else if first, dup := p.firstLine[s.ID]; dup {
		bad("duplicate id %q (first on line %d)", s.ID, first)
	} else {
		p.firstLine[s.ID] = line
	}
	if s.Name == "" {
		bad("name is empty")
	}
	var ok bool
	if s.Lat, ok = coordinate(field("lat"), "lat", 90, bad); !ok {
		s.Lat = 0
	}
	if s.Lng, ok = coordinate(field("lng"), "lng", 180, bad); !ok {
		s.Lng = 0
	}
	if len(p.errs) > nErrs {
		return
	}
	if p.convert {
		s.Lat, s.Lng = WGS84ToGCJ02(s.Lat, s.Lng)
	}
	p.stores = append(p.stores, s)
}

// coordinate parses one of lat or lng and checks it lies in [-limit, limit].
func coordinate(v, name string, limit float64, bad func(string, ...any)) (float64, bool) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		bad("%s %q is not a number", name, v)
		return 0, false
	}
	if !(f >= -limit && f <= limit) { // also rejects NaN
		bad("%s %s is out of range [-%g, %g]", name, v, limit, limit)
		return 0, false
	}
	return f, true
}
