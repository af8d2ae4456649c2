package snapshots

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
)

// ToVerify names a snapshot whose object is new or changed and needs a
// verification job. ETag is part of the job's identity, so a replaced object
// is verified again.
type ToVerify struct {
	ID   int64
	ETag string
}

// SyncOptions choose what a sync lists.
type SyncOptions struct {
	// Ref limits the sync to one project; empty means every project.
	Ref string
	// Full lists every key (of Ref, or of the whole prefix) and notices deleted
	// objects. Otherwise the sync is incremental: each project is listed after
	// its highest known key, and new project prefixes are discovered.
	Full bool
	// Concurrency is how many project listings run at once (default 16).
	Concurrency int
	// WholePrefix makes a full sync of every project list the whole prefix
	// in sequential pages instead of each project's prefix in parallel.
	WholePrefix bool
	// BatchSize is how many new or changed objects are written per
	// transaction (default 2000).
	BatchSize int
	// OnChanged runs in the transaction that writes new or changed snapshots,
	// so their verification jobs commit with them (the River insert lives in
	// internal/jobs).
	OnChanged func(ctx context.Context, tx pgx.Tx, snaps []ToVerify) error
}

// SyncResult says what a sync did.
type SyncResult struct {
	Full     bool          `json:"full"`
	Projects int           `json:"projects"` // project prefixes listed
	Requests int           `json:"requests"` // ListObjectsV2 calls
	Listed   int           `json:"listed"`   // objects returned by S3
	Added    int           `json:"added"`
	Changed  int           `json:"changed"`
	Deleted  int           `json:"deleted"`
	Skipped  int           `json:"skipped"` // objects outside any valid project ref
	Duration time.Duration `json:"duration"`
}

// Sync brings the catalog up to date with S3 and records the run in
// snapshot_syncs.
//
// Why two modes: S3 cannot list "what changed since", and 10,000 projects x
// 30 snapshots are 300,000 keys. Snapshot keys sort by time within a
// project, so an incremental sync lists each project with StartAfter its
// highest known key and gets only new snapshots (usually an empty page); it
// discovers new projects with a delimiter listing of the prefix (1,000
// projects a page). It cannot notice deleted or replaced objects, or keys
// that sort before the newest one (a backfill, a project mixing key forms):
// a periodic full sync, which lists every key and compares with the catalog,
// does. Both list project prefixes in parallel: on the local S3 server a
// 1,000-key page of the whole prefix costs seconds while a project's prefix
// costs milliseconds (see scripts/bench-sync.sh; WholePrefix keeps the
// sequential listing). "Sync now" on a project page is a full sync of that
// project.
func Sync(ctx context.Context, d Deps, opts SyncOptions) (SyncResult, error) {
	start := time.Now()
	opts.Concurrency = cmp.Or(opts.Concurrency, 16)
	opts.BatchSize = cmp.Or(opts.BatchSize, 2000)
	if opts.Ref != "" && !ValidRef(opts.Ref) {
		return SyncResult{}, fmt.Errorf("project %q: %w", opts.Ref, ErrNotFound)
	}
	runID, startedAt, err := syncStart(ctx, d.Pool, opts.Ref, opts.Full)
	if err != nil {
		return SyncResult{}, fmt.Errorf("record sync: %w", err)
	}
	s := &syncer{d: d, opts: opts, res: SyncResult{Full: opts.Full}, startedAt: startedAt, warned: map[string]bool{}}
	if opts.Full {
		err = s.full(ctx)
	} else {
		err = s.incremental(ctx)
	}
	s.res.Duration = time.Since(start)
	if ferr := syncFinish(context.WithoutCancel(ctx), d.Pool, runID, s.res, err); ferr != nil && err == nil {
		err = ferr
	}
	if err != nil {
		return s.res, fmt.Errorf("sync: %w", err)
	}
	d.log().Info("snapshot sync", "project_ref", opts.Ref, "full", opts.Full, "projects", s.res.Projects,
		"requests", s.res.Requests, "listed", s.res.Listed, "added", s.res.Added, "changed", s.res.Changed,
		"deleted", s.res.Deleted, "skipped", s.res.Skipped, "duration_ms", s.res.Duration.Milliseconds())
	return s.res, nil
}

type syncer struct {
	d         Deps
	opts      SyncOptions
	startedAt time.Time

	writeMu sync.Mutex // one batch written at a time
	mu      sync.Mutex // guards what follows
	res     SyncResult
	batch   []listed
	warned  map[string]bool
	known   map[string]catalogEntry // full sync: live catalog rows not listed yet
}

func (s *syncer) prefix() string {
	if s.opts.Ref != "" {
		return ProjectPrefix(s.d.Prefix, s.opts.Ref)
	}
	if s.d.Prefix == "" {
		return ""
	}
	return strings.TrimSuffix(s.d.Prefix, "/") + "/"
}

// toListed turns an S3 object into a catalog row, or false for keys outside
// any valid project.
func (s *syncer) toListed(key string, size int64, etag string, mod *time.Time) (listed, bool) {
	ref, _, ok := RefFromKey(s.d.Prefix, key)
	if !ok || !ValidRef(ref) {
		s.res.Skipped++
		name := ref
		if !ok {
			name = key
		}
		if !s.warned[name] {
			s.warned[name] = true
			s.d.log().Warn("snapshot sync: object outside any valid project ref skipped", "key", key)
		}
		return listed{}, false
	}
	l := listed{ref: ref, key: key, size: size, etag: strings.Trim(etag, `"`), lastModified: mod}
	if t, ok := ParseKeyTime(key); ok {
		l.takenAt = &t
	}
	return l, true
}

// full lists everything under the scope, writes what is new or changed and
// marks what is gone. By default it lists each project's prefix (known and
// discovered ones) in parallel; WholePrefix lists the prefix in one
// sequential run of 1,000-key pages instead.
func (s *syncer) full(ctx context.Context) error {
	var scope []string
	if s.opts.Ref != "" {
		scope = []string{s.opts.Ref}
	}
	known, err := snapshotCatalog(ctx, s.d.Pool, scope)
	if err != nil {
		return fmt.Errorf("load catalog: %w", err)
	}
	s.known = known
	if s.opts.Ref != "" {
		// A project with no object left still needs its summary emptied.
		if err := ProjectEnsure(ctx, s.d.Pool, scope); err != nil {
			return err
		}
	}
	if s.opts.WholePrefix && s.opts.Ref == "" {
		err = s.listWholePrefix(ctx)
	} else {
		err = s.listProjects(ctx, nil)
	}
	if err != nil {
		return err
	}
	if err := s.flush(ctx); err != nil {
		return err
	}
	if len(s.known) > 0 {
		ids := make([]int64, 0, len(s.known))
		for _, k := range s.known {
			ids = append(ids, k.id)
		}
		gone, err := snapshotMarkDeleted(ctx, s.d.Pool, ids, s.startedAt, "gone from S3")
		if err != nil {
			return fmt.Errorf("mark deleted: %w", err)
		}
		s.res.Deleted = len(gone)
		slices.Sort(gone)
		if err := SummaryRefresh(ctx, s.d.Pool, slices.Compact(gone)); err != nil {
			return err
		}
	}
	return nil
}

// add queues a listed object for writing, unless a full sync finds it
// unchanged in the catalog. Concurrent listers hold s.mu.
func (s *syncer) add(l listed) {
	if s.known != nil {
		if k, ok := s.known[l.key]; ok {
			delete(s.known, l.key)
			if k.size == l.size && k.etag == l.etag {
				return
			}
		}
	}
	s.batch = append(s.batch, l)
}

func (s *syncer) listWholePrefix(ctx context.Context) error {
	prefix := s.prefix()
	p := s3.NewListObjectsV2Paginator(s.d.S3, &s3.ListObjectsV2Input{Bucket: &s.d.Bucket, Prefix: &prefix})
	seenRefs := map[string]bool{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", s.d.Bucket, prefix, err)
		}
		s.res.Requests++
		for _, o := range page.Contents {
			s.res.Listed++
			if l, ok := s.toListed(aws.ToString(o.Key), aws.ToInt64(o.Size), aws.ToString(o.ETag), o.LastModified); ok {
				seenRefs[l.ref] = true
				s.add(l)
			}
		}
		if len(s.batch) >= s.opts.BatchSize {
			if err := s.flush(ctx); err != nil {
				return err
			}
		}
	}
	s.res.Projects = len(seenRefs)
	return nil
}

// incremental lists each project after its highest known key.
func (s *syncer) incremental(ctx context.Context) error {
	newest, err := projectNewestKeys(ctx, s.d.Pool)
	if err != nil {
		return fmt.Errorf("load newest keys: %w", err)
	}
	if err := s.listProjects(ctx, newest); err != nil {
		return err
	}
	return s.flush(ctx)
}

// listProjects lists the scope's projects concurrently: opts.Ref, or every
// known project and every discovered prefix. after maps a ref to the key its
// listing starts after (nil: from the start).
func (s *syncer) listProjects(ctx context.Context, after map[string]string) error {
	var refs []string
	if s.opts.Ref != "" {
		refs = []string{s.opts.Ref}
	} else {
		found, err := s.discover(ctx)
		if err != nil {
			return err
		}
		all, err := projectNewestKeys(ctx, s.d.Pool)
		if err != nil {
			return fmt.Errorf("load projects: %w", err)
		}
		for ref := range all {
			refs = append(refs, ref)
		}
		for _, ref := range found {
			if _, ok := all[ref]; !ok {
				refs = append(refs, ref)
			}
		}
		slices.Sort(refs)
	}
	s.res.Projects = len(refs)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.Concurrency)
	for _, ref := range refs {
		g.Go(func() error { return s.listProject(gctx, ref, after[ref]) })
	}
	return g.Wait()
}

// discover returns the project refs that have a prefix under the configured
// prefix, with one delimiter listing (1,000 refs a page).
func (s *syncer) discover(ctx context.Context) ([]string, error) {
	prefix := s.prefix()
	p := s3.NewListObjectsV2Paginator(s.d.S3, &s3.ListObjectsV2Input{
		Bucket: &s.d.Bucket, Prefix: &prefix, Delimiter: aws.String("/")})
	var refs []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list project prefixes under s3://%s/%s: %w", s.d.Bucket, prefix, err)
		}
		s.res.Requests++
		for _, cp := range page.CommonPrefixes {
			ref := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), prefix), "/")
			if ValidRef(ref) {
				refs = append(refs, ref)
			} else if !s.warned[ref] {
				s.warned[ref] = true
				s.d.log().Warn("snapshot sync: prefix is not a valid project ref; skipped", "prefix", aws.ToString(cp.Prefix))
			}
		}
	}
	return refs, nil
}

func (s *syncer) listProject(ctx context.Context, ref, after string) error {
	prefix := ProjectPrefix(s.d.Prefix, ref)
	in := &s3.ListObjectsV2Input{Bucket: &s.d.Bucket, Prefix: &prefix}
	if after != "" {
		in.StartAfter = &after
	}
	p := s3.NewListObjectsV2Paginator(s.d.S3, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", s.d.Bucket, prefix, err)
		}
		s.mu.Lock()
		s.res.Requests++
		for _, o := range page.Contents {
			s.res.Listed++
			if l, ok := s.toListed(aws.ToString(o.Key), aws.ToInt64(o.Size), aws.ToString(o.ETag), o.LastModified); ok {
				s.add(l)
			}
		}
		var full []listed
		if len(s.batch) >= s.opts.BatchSize {
			full, s.batch = s.batch, nil
		}
		s.mu.Unlock()
		// Written outside the lock: the other listings go on meanwhile.
		if err := s.write(ctx, full); err != nil {
			return err
		}
	}
	return nil
}

// flush writes what is left in the batch; no listing may run concurrently.
func (s *syncer) flush(ctx context.Context) error {
	batch := s.batch
	s.batch = nil
	return s.write(ctx, batch)
}

// write stores a batch, refreshes the summaries of its projects and hands
// the snapshots to verify to OnChanged, in one transaction. Writes are
// serialised; the counters are updated under s.mu.
func (s *syncer) write(ctx context.Context, batch []listed) error {
	if len(batch) == 0 {
		return nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var added, changed int
	err := pgx.BeginFunc(ctx, s.d.Pool, func(tx pgx.Tx) error {
		added, changed = 0, 0
		ups, err := snapshotUpsert(ctx, tx, batch, KindAutomatic)
		if err != nil {
			return fmt.Errorf("write snapshots: %w", err)
		}
		var refs []string
		var verify []ToVerify
		for _, u := range ups {
			if u.Created {
				added++
			} else {
				changed++
			}
			refs = append(refs, u.Ref)
			verify = append(verify, ToVerify{ID: u.ID, ETag: u.ETag})
		}
		if err := SummaryRefresh(ctx, tx, refs); err != nil {
			return fmt.Errorf("refresh summaries: %w", err)
		}
		if s.opts.OnChanged != nil && len(verify) > 0 {
			return s.opts.OnChanged(ctx, tx, verify)
		}
		return nil
	})
	if err == nil {
		s.mu.Lock()
		s.res.Added += added
		s.res.Changed += changed
		s.mu.Unlock()
	}
	return err
}
