package engine

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/sqldb"
)

// syncRun is one run's working state.
type syncRun struct {
	s       *Syncer
	ctx     context.Context
	start   time.Time
	renewed time.Time // when the lease was last renewed
	st      sqldb.FollowerSync
	names   map[int]string
	fresh   bool // names were fetched during this page
	res     SyncResult
}

func (r *syncRun) run(claimed sqldb.FollowerSync) (SyncResult, error) {
	s := r.s
	st, err := s.db.BeginFollowerPass(r.ctx, s.opts.Owner, r.start)
	if err != nil {
		return r.res, r.stop(err)
	}
	r.st = st
	r.res = SyncResult{Pass: st.Pass, Resumed: claimed.Running, From: st.NextOpenID, BeforePages: st.Pages, BeforeStored: st.Synced}
	if r.names, err = s.src.TagNames(r.ctx); err != nil {
		return r.res, r.stop(err)
	}
	cursor := st.NextOpenID
	for {
		if err := r.ctx.Err(); err != nil {
			return r.res, r.stop(err)
		}
		page, err := s.src.FollowerPage(r.ctx, cursor)
		if err != nil {
			return r.res, r.stop(err)
		}
		if len(page.OpenIDs) == 0 {
			break
		}
		if err := r.page(page); err != nil {
			return r.res, r.stop(err)
		}
		if page.Next == "" || page.Next == cursor {
			break
		}
		cursor = page.Next
	}
	now := s.opts.Now()
	n, err := s.db.CompleteFollowerPass(r.ctx, s.opts.Owner, st.Pass, st.PassStartedAt.Add(-unfollowGrace), now)
	if err != nil {
		return r.res, r.stop(err)
	}
	r.res.Completed, r.res.Unfollowed, r.res.Elapsed = true, n, now.Sub(r.start)
	s.opts.Log.Info("follower sync pass completed", "pass", st.Pass, "stored", r.res.Stored, "unfollowed", n, "elapsed", r.res.Elapsed)
	return r.res, s.release(r.ctx)
}

// syncWriteChunk is how many followers one transaction of a page write
// stores: it holds an advisory lock for each (PostgreSQL's shared lock
// table holds max_locks_per_transaction × max_connections, 6,400 by
// default, for every transaction at once).
const syncWriteChunk = 1000

// page reads the followers of page and stores them with the cursor after it.
func (r *syncRun) page(page FollowerPage) error {
	s := r.s
	ids := uniqueOpenIDs(page.OpenIDs)
	infos, err := r.infos(ids)
	if err != nil {
		return err
	}
	list, err := r.synced(infos)
	if err != nil {
		return err
	}
	if err := r.ctx.Err(); err != nil {
		return err // Write might still commit the page once ctx has ended
	}
	now := s.opts.Now()
	// The page goes in transactions of syncWriteChunk followers, each under
	// those followers' locks (taken first and sorted, as every write that
	// changes a follower does), so that a push of one of them handled
	// meanwhile by another process waits and reads the synced row, and
	// the sync reads the push's; the last one moves the cursor. A run
	// stopped between them does the whole page again (the writes are
	// idempotent), and one that lost its lease writes nothing more.
	chunks := slices.Collect(slices.Chunk(list, syncWriteChunk))
	if len(chunks) == 0 {
		chunks = [][]followers.Synced{nil} // the cursor moves past a page with no follower too
	}
	for i, chunk := range chunks {
		last := i == len(chunks)-1
		err = s.db.Write(r.ctx, func(tx *sqldb.Tx) error {
			ids := make([]string, len(chunk))
			for j, sy := range chunk {
				ids[j] = sy.OpenID
			}
			if err := tx.LockFollowers(ids); err != nil {
				return err
			}
			if err := tx.HoldsFollowerSync(s.opts.Owner, r.st.Pass); err != nil {
				return err
			}
			prev, err := tx.FollowersByOpenID(ids)
			if err != nil {
				return err
			}
			out := make([]followers.Follower, len(chunk))
			for j, sy := range chunk {
				out[j] = followers.Reconcile(prev[sy.OpenID], sy, now)
			}
			if err := tx.SaveSyncedFollowers(out, r.st.Pass); err != nil {
				return err
			}
			if err := tx.ReplaceSyncedTags(chunk); err != nil {
				return err
			}
			if !last {
				return nil
			}
			return tx.CheckpointFollowerSync(s.opts.Owner, r.st.Pass, page.Next, len(list), page.Total, now, now.Add(s.opts.LeaseTTL))
		})
		if err != nil {
			break
		}
	}
	if err != nil {
		return err
	}
	r.renewed = now
	r.st.Pages++
	r.st.Synced += int64(len(list))
	r.st.NextOpenID = page.Next
	r.res.Pages++
	r.res.Stored += len(list)
	p := SyncProgress{Pass: r.st.Pass, Page: r.res.Pages, OnPage: len(list), Stored: r.res.Stored,
		PassStored: r.st.Synced, Total: page.Total, Elapsed: s.opts.Now().Sub(r.start)}
	s.opts.Log.Debug("follower sync page stored", "pass", p.Pass, "page", p.Page, "followers", p.OnPage, "pass_stored", p.PassStored, "total", p.Total)
	if s.opts.Progress != nil {
		s.opts.Progress(p)
	}
	return nil
}

// infos asks about ids in batches, opts.Parallel at a time, renewing the
// lease between rounds.
func (r *syncRun) infos(ids []string) ([]FollowerInfo, error) {
	var batches [][]string
	for len(ids) > 0 {
		n := min(len(ids), MaxFollowerInfo)
		batches, ids = append(batches, ids[:n]), ids[n:]
	}
	out := make([][]FollowerInfo, len(batches))
	for round := 0; round < len(batches); round += r.s.opts.Parallel {
		if err := r.renew(); err != nil {
			return nil, err
		}
		if err := r.round(batches[round:min(round+r.s.opts.Parallel, len(batches))], out[round:]); err != nil {
			return nil, err
		}
	}
	var all []FollowerInfo
	for _, b := range out {
		all = append(all, b...)
	}
	return all, nil
}

// round asks about each batch at once; the first failure cancels the rest.
func (r *syncRun) round(batches [][]string, out [][]FollowerInfo) error {
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	errc := make([]error, len(batches))
	var wg sync.WaitGroup
	for i, b := range batches {
		wg.Go(func() {
			out[i], errc[i] = r.s.src.FollowerInfo(ctx, b)
			if errc[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	for _, err := range errc {
		// A batch cancelled because another failed reports the other's error.
		if err != nil && r.ctx.Err() == nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// renew extends the lease when a third of it has passed since the last time.
func (r *syncRun) renew() error {
	now := r.s.opts.Now()
	if now.Sub(r.renewed) < r.s.opts.LeaseTTL/3 {
		return nil
	}
	if err := r.s.db.RenewFollowerSync(r.ctx, r.s.opts.Owner, now, now.Add(r.s.opts.LeaseTTL)); err != nil {
		return err
	}
	r.renewed = now
	return nil
}

// synced turns what batchget answered into followers to store: those who
// still follow, with their tags by name. An unknown tag id (a tag made
// since the run began) fetches the names again, once per page.
func (r *syncRun) synced(infos []FollowerInfo) ([]followers.Synced, error) {
	r.fresh = false
	out := make([]followers.Synced, 0, len(infos))
	seen := make(map[string]bool, len(infos))
	for _, in := range infos {
		if !in.Following || seen[in.OpenID] {
			continue
		}
		seen[in.OpenID] = true
		sy := followers.Synced{OpenID: in.OpenID, UnionID: in.UnionID, SubscribedAt: in.SubscribedAt, QRScene: in.QRScene}
		for _, id := range in.TagIDs {
			name, ok := r.names[id]
			if !ok && !r.fresh {
				names, err := r.s.src.TagNames(r.ctx)
				if err != nil {
					return nil, err
				}
				r.names, r.fresh = names, true
				name, ok = r.names[id]
			}
			if ok {
				sy.Tags = append(sy.Tags, name)
			}
		}
		out = append(out, sy)
	}
	return out, nil
}

// stop records why the run stopped and gives up the lease, and returns the
// run's error: a *SyncStopped, or the Conflict of a lease lost.
func (r *syncRun) stop(cause error) error {
	s := r.s
	now := s.opts.Now()
	var retryAt *time.Time
	msg := cause.Error()
	var se *SourceError
	switch {
	case r.ctx.Err() != nil:
		msg = "interrupted: " + context.Cause(r.ctx).Error()
	case errors.As(cause, &se):
		at := ResumeAt(se.Resume, now)
		retryAt = &at
	default:
		at := ResumeAt(ResumeSoon, now)
		retryAt = &at
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 10*time.Second)
	defer cancel()
	if err := s.db.StopFollowerSync(ctx, s.opts.Owner, msg, retryAt, now); err != nil {
		s.opts.Log.Warn("follower sync: could not record the stop", "err", err)
	}
	r.res.Elapsed = now.Sub(r.start)
	if errs.Is(cause, errs.Conflict) && r.ctx.Err() == nil {
		return cause
	}
	return &SyncStopped{Pass: r.st.Pass, Pages: r.st.Pages, Stored: r.st.Synced, RetryAt: retryAt, Err: cause}
}

// uniqueOpenIDs returns ids without repeats, in order.
func uniqueOpenIDs(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
