package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/restore"
	"github.com/restoreportal/portal/internal/seekgz"
)

type tableFlags []string

func (t *tableFlags) String() string     { return strings.Join(*t, ",") }
func (t *tableFlags) Set(v string) error { *t = append(*t, v); return nil }

// runApply is the break-glass command: worker apply --dump PATH|s3://bucket/key
// --database-url URL [--table schema.table]... [--jobs N]. It applies a plain
// dump (.sql or .sql.gz, detected by magic bytes) into an existing empty database.
func runApply(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dump := fs.String("dump", "", "dump to apply: a local path or s3://bucket/key (.sql or .sql.gz)")
	dbURL := fs.String("database-url", "", "target database URL (an existing, empty database)")
	jobs := fs.Int("jobs", 0, "parallel connections (default: number of CPUs)")
	reread := fs.Bool("reread", false, "also read the dump with extra cursors (up to jobs-1) so that more tables load at once; costs one more download and decompression per cursor")
	var tables tableFlags
	fs.Var(&tables, "table", "restore only this table, schema.table (repeatable)")
	useIndex := fs.String("index", "auto", "the snapshot's stored access index (needs PORTAL_DATABASE_URL): auto (when usable), off, require")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("apply: %w", err)
	}
	if *dump == "" || *dbURL == "" {
		fs.Usage()
		return errors.New("apply: --dump and --database-url are required")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("apply: unexpected arguments %q", fs.Args())
	}

	// Names are validated against the dump itself by the selection, before anything
	// is applied; unknown ones fail with the closest matches.
	var sel []extract.QualifiedName
	for _, t := range tables {
		q, ok := extract.ParseQualifiedName(t)
		if !ok {
			return fmt.Errorf("apply: --table %q is not schema.table", t)
		}
		sel = append(sel, q)
	}

	r, closeFn, err := openDumpIndexed(ctx, *dump, sel, *useIndex, stderr) // apply_index.go
	if err != nil {
		return err
	}
	defer closeFn()
	var reopen func(context.Context) (io.ReadCloser, error)
	if _, indexed := r.(restore.Parted); *reread && !indexed { // ranges or parts read the dump once
		// Extra cursors re-read the dump so that several tables load at once.
		reopen = func(ctx context.Context) (io.ReadCloser, error) {
			r, closeFn, err := openDump(ctx, *dump)
			if err != nil {
				return nil, err
			}
			return readCloser{r, closeFn}, nil
		}
	}
	start := time.Now()
	res, err := restore.Apply(ctx, r, restore.Options{
		Reopen:      reopen,
		DatabaseURL: *dbURL,
		Jobs:        *jobs,
		Tables:      sel,
		Progress: func(p restore.Progress) {
			if p.Done {
				return
			}
			fmt.Fprintf(stderr, "apply: %s  %d entries  %.1f MiB read  %d rows  %s\n",
				p.Phase, p.Entries, float64(p.BytesRead)/(1<<20), p.Rows, time.Since(start).Round(time.Second))
		},
		Warn: func(msg string) { fmt.Fprintf(stderr, "apply: warning: %s\n", msg) },
	})
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	var rows int64
	for _, t := range res.Tables {
		rows += t.CopiedRows
	}
	for _, fk := range res.DroppedForeignKeys {
		fmt.Fprintf(stderr, "apply: foreign key left out (references a table not selected): %s\n", fk)
	}
	if !res.TrailerSeen {
		fmt.Fprintf(stderr, "apply: warning: dump has no completion trailer\n")
	}
	fmt.Fprintf(stderr, "apply: done in %s: %d entries, %d tables, %d rows verified, %.1f MiB read, %d warnings\n",
		res.Duration.Round(time.Millisecond), res.Entries, len(res.Tables), rows, float64(res.BytesRead)/(1<<20), len(res.Warnings))
	return nil
}

// openDump opens a local file or s3://bucket/key and unwraps gzip when the stream
// starts with the gzip magic bytes.
func openDump(ctx context.Context, loc string) (io.Reader, func(), error) {
	var rc io.ReadCloser
	if rest, ok := strings.CutPrefix(loc, "s3://"); ok {
		bucket, key, _ := strings.Cut(rest, "/")
		if bucket == "" || key == "" {
			return nil, nil, fmt.Errorf("apply: %q is not s3://bucket/key", loc)
		}
		s3cfg, err := config.LoadS3(config.Environ)
		if err != nil {
			return nil, nil, fmt.Errorf("apply: %w", err)
		}
		client, err := objstore.New(ctx, s3cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("apply: %w", err)
		}
		or, err := objstore.NewReader(ctx, client, bucket, key)
		if err != nil {
			return nil, nil, fmt.Errorf("apply: open %s: %w", loc, err)
		}
		rc = or
	} else {
		f, err := os.Open(loc)
		if err != nil {
			return nil, nil, fmt.Errorf("apply: %w", err)
		}
		rc = f
	}
	br := bufio.NewReaderSize(rc, 1<<20)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := seekgz.NewReader(br)
		if err != nil {
			rc.Close()
			return nil, nil, fmt.Errorf("apply: %s: %w", loc, err)
		}
		return zr, func() { zr.Close(); rc.Close() }, nil
	}
	return br, func() { rc.Close() }, nil
}

type readCloser struct {
	io.Reader
	close func()
}

func (r readCloser) Close() error { r.close(); return nil }
