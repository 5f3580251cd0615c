package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/omohq/omo/campaigns"
)

// loadCampaignDir reads and checks every campaign file under dir. A missing
// dir is an empty set.
func loadCampaignDir(dir string) (*campaigns.Set, []campaigns.File, error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		set, err := campaigns.Load(nil)
		return set, nil, err
	}
	files, err := campaigns.ReadPaths(dir)
	if err != nil {
		return nil, nil, err
	}
	set, err := campaigns.Load(files)
	return set, files, err
}

// applyCampaigns loads campaigns.dir into the engine; a set with problems
// is an error listing them, and the running set stays.
func (a *app) applyCampaigns(ctx context.Context) error {
	set, files, err := loadCampaignDir(a.cfg.Campaigns.Dir)
	if err != nil {
		return fmt.Errorf("campaigns.dir %s: refused, the running set stays:\n%w", a.cfg.Campaigns.Dir, err)
	}
	if cur := a.engine.Campaigns(); cur != nil && cur.Hash == set.Hash {
		return nil
	}
	if err := a.engine.SetCampaigns(ctx, set, files); err != nil {
		return err
	}
	a.log.Info("campaign set applied", "dir", a.cfg.Campaigns.Dir, "campaigns", len(set.Campaigns), "pools", len(set.Pools), "files", len(set.Files))
	return nil
}

// watchCampaigns re-reads campaigns.dir every interval and applies a valid
// change (an invalid one is logged with its problems once per version), and
// rebuilds the store index when the catalogue changed.
func (a *app) watchCampaigns(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	lastBad := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := a.engine.LoadStores(ctx); err != nil {
			a.log.Warn("store index not rebuilt", "err", err)
		}
		err := a.applyCampaigns(ctx)
		if err == nil {
			lastBad = ""
			continue
		}
		if err.Error() != lastBad {
			a.log.Error("campaign change refused", "err", err)
			lastBad = err.Error()
		}
	}
}
