// Package stores is omo's store catalogue and its spatial rules: it parses
// the store CSV that merchants upload, converts WGS-84 coordinates to the
// GCJ-02 datum WeChat reports locations in, measures great-circle distances,
// and answers "which k stores are nearest to this follower, within N km"
// from an immutable in-memory index. The location trigger of the campaign
// engine asks the Index; the storage and HTTP adapters persist and list the
// Store values. The package imports only the standard library.
package stores
