package campaigns

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Set is a validated set of campaign files.
type Set struct {
	Pools     map[string]*CouponPool
	Campaigns []*Campaign // in file order
	Referrals []*ReferralProgram
	Files     []string
	Hash      string // of the files' contents; equal hashes are equal sets
	// Warnings are things a marketer should hear about that do not refuse
	// the set (omo campaigns validate prints them).
	Warnings Problems
}

// Campaign returns the campaign with id, or nil.
func (s *Set) Campaign(id string) *Campaign {
	for _, c := range s.Campaigns {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// File is one campaign file's name and contents.
type File struct {
	Name string
	Data []byte
}

// ReadPaths reads the YAML files named by paths; a directory stands for
// every *.yaml and *.yml file under it, in name order.
func ReadPaths(paths ...string) ([]File, error) {
	var files []File
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			files = append(files, File{p, b})
			continue
		}
		var names []string
		err = filepath.WalkDir(p, func(path string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !de.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
				names = append(names, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(names)
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err != nil {
				return nil, err
			}
			files = append(files, File{n, b})
		}
	}
	return files, nil
}

// Load parses and checks files as one set. Any problem refuses the whole
// set: the error is then Problems, every problem found.
func Load(files []File) (*Set, error) {
	var problems Problems
	s := &Set{Pools: map[string]*CouponPool{}}
	h := sha256.New()
	campaignIDs := map[string]Pos{}
	referralIDs := map[string]Pos{}
	for _, f := range files {
		s.Files = append(s.Files, f.Name)
		fmt.Fprintf(h, "%s\x00%d\x00", f.Name, len(f.Data))
		h.Write(f.Data)
		d := &decoder{file: f.Name, problems: &problems}
		dec := yaml.NewDecoder(bytes.NewReader(f.Data))
		for {
			var doc yaml.Node
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				problems = append(problems, yamlProblem(f.Name, f.Data, err))
				break
			}
			if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
				continue
			}
			d.document(doc.Content[0], s, campaignIDs, referralIDs)
		}
	}
	s.Hash = hex.EncodeToString(h.Sum(nil))
	s.check(&problems)
	if len(problems) > 0 {
		problems.sort()
		return nil, problems
	}
	return s, nil
}

func (d *decoder) document(n *yaml.Node, s *Set, campaignIDs, referralIDs map[string]Pos) {
	if n.Kind != yaml.MappingNode {
		d.bad(n, "", "a document must be a mapping with kind: CouponPool, Campaign or ReferralProgram")
		return
	}
	kind, idNode := n, n // the kind and id values; the document when missing
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "kind":
			kind = n.Content[i+1]
		case "id":
			idNode = n.Content[i+1]
		}
	}
	dup := func(ids map[string]Pos, id string, pos Pos, what string) bool {
		if id == "" {
			return true
		}
		if prev, ok := ids[id]; ok {
			d.bad(idNode, "id", "%s %q is already defined at %s:%d", what, id, prev.File, prev.Line)
			return true
		}
		ids[id] = pos
		return false
	}
	switch kind.Value {
	case KindCouponPool:
		p := d.pool(n)
		if prev, ok := s.Pools[p.ID]; ok && p.ID != "" {
			d.bad(idNode, "id", "pool %q is already defined at %s:%d", p.ID, prev.Pos.File, prev.Pos.Line)
			return
		}
		if p.ID != "" {
			s.Pools[p.ID] = p
		}
	case KindCampaign:
		c := d.campaign(n)
		if !dup(campaignIDs, c.ID, c.Pos, "campaign") {
			s.Campaigns = append(s.Campaigns, c)
		}
	case KindReferralProgram:
		r := d.referral(n)
		if !dup(referralIDs, r.ID, r.Pos, "referral program") {
			s.Referrals = append(s.Referrals, r)
		}
	case "":
		d.bad(kind, "kind", "is required: CouponPool, Campaign or ReferralProgram")
	default:
		d.bad(kind, "kind", "%q: want CouponPool, Campaign or ReferralProgram", kind.Value)
	}
}

// yamlProblem turns a YAML syntax error into a Problem with its line.
func yamlProblem(file string, data []byte, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if _, err := fmt.Sscanf(msg, "line %d:", &line); err == nil {
		msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
	}
	if yamlParserErrors[msg] {
		// yaml.v3 gives the parser's (not the scanner's) lines counted
		// from 0, and no line at all for 0.
		line++
	}
	if name, ok := strings.CutPrefix(msg, "unknown anchor '"); ok && line == 0 {
		name = strings.TrimSuffix(name, "' referenced")
		if i := bytes.Index(data, []byte("*"+name)); i >= 0 {
			line = 1 + bytes.Count(data[:i], []byte("\n"))
		}
	}
	return Problem{File: file, Line: line, Why: "YAML syntax: " + msg}
}

// yamlParserErrors are the messages of yaml.v3's parser, as opposed to its
// scanner (gopkg.in/yaml.v3 parserc.go).
var yamlParserErrors = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}
