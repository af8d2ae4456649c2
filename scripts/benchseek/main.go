// Command benchseek is the Go half of scripts/bench-seek.sh. "gen N" writes a
// plain pg_dump-shaped dump of about N MiB to stdout: three large tables and a
// small table ("late") written after them, then post-data. "put KEY FILE" uploads
// the gzipped dump to the dev stack's S3; "run KEY" works on it there:
//  1. the verification pass (S3 read, inflate, inventory) with compress/gzip as
//     before, with seekgz, and with seekgz building and storing the access index,
//     and the index's size;
//  2. a restore of public.late through the index (index fetch, ranged GETs,
//     restore.Apply into a fresh database), with the S3 bytes it read;
//  3. the same restore reading the whole dump, as before the index.
//
// "compress" gzips stdin to stdout as captures do (seekgz.Writer); "index FILE"
// prints the access index size of a local .sql.gz.
//
// It prints seconds and bytes on lines "name value" for the shell half.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/restore"
	"github.com/restoreportal/portal/internal/seekgz"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/verify"
	"github.com/restoreportal/portal/scripts/benchenv"
)

func main() {
	benchenv.Commands("benchseek",
		benchenv.Command{Name: "gen", Args: []string{"MIB"}, Run: func(_ context.Context, args []string) error {
			mib, err := strconv.Atoi(args[0])
			if err != nil {
				return err
			}
			return gen(os.Stdout, int64(mib)<<20)
		}},
		benchenv.Command{Name: "compress", Run: func(context.Context, []string) error {
			w := seekgz.NewWriter(os.Stdout, 0)
			if _, err := io.Copy(w, bufio.NewReaderSize(os.Stdin, 1<<20)); err != nil {
				return err
			}
			return w.Close()
		}},
		benchenv.Command{Name: "index", Args: []string{"FILE"}, Run: func(_ context.Context, args []string) error { return indexFile(args[0]) }},
		benchenv.Command{Name: "put", Args: []string{"KEY", "FILE"}, Run: func(ctx context.Context, args []string) error { return put(ctx, args[0], args[1]) }},
		benchenv.Command{Name: "run", Args: []string{"KEY"}, Run: func(ctx context.Context, args []string) error { return bench(ctx, args[0]) }},
		benchenv.Command{Name: "rm", Args: []string{"KEY"}, Run: func(ctx context.Context, args []string) error { return rm(ctx, args[0]) }})
}

var bigTables = []string{"events", "measurements", "documents"}

// gen writes the dump: each big table gets a third of size.
func gen(out io.Writer, size int64) error {
	w := bufio.NewWriterSize(out, 1<<20)
	fmt.Fprint(w, "--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 15.8\n-- Dumped by pg_dump version 15.8\n\n"+
		"SET statement_timeout = 0;\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\n")
	all := append(append([]string{}, bigTables...), "late")
	for _, t := range all {
		fmt.Fprintf(w, "--\n-- Name: %s; Type: TABLE; Schema: public; Owner: -\n--\n\nCREATE TABLE public.%s (\n    id bigint NOT NULL,\n    at text,\n    body text\n);\n\n", t, t)
	}
	rng := rand.New(rand.NewPCG(42, 42))
	words := []string{"alpha", "beta", "gamma", "delta", "order", "shipped", "pending", "user", "invoice", "paid", "refund", "active"}
	var line []byte
	for i, t := range all {
		fmt.Fprintf(w, "--\n-- Data for Name: %s; Type: TABLE DATA; Schema: public; Owner: -\n--\n\nCOPY public.%s (id, at, body) FROM stdin;\n", t, t)
		target := size / int64(len(bigTables))
		rows := int64(1 << 62)
		if i == len(bigTables) {
			rows = 2000
		}
		var written int64
		for r := int64(1); r <= rows && written < target; r++ {
			line = strconv.AppendInt(line[:0], r, 10)
			line = append(line, '\t')
			line = time.Unix(1_700_000_000+r*7, 0).UTC().AppendFormat(line, "2006-01-02 15:04:05+00")
			line = append(line, '\t')
			for k := 0; k < 6; k++ {
				line = append(line, words[rng.IntN(len(words))]...)
				line = append(line, ' ')
				line = strconv.AppendUint(line, rng.Uint64()%100000, 10)
				line = append(line, ' ')
			}
			line = strconv.AppendUint(line, rng.Uint64(), 16)
			line = append(line, '\n')
			w.Write(line)
			written += int64(len(line))
		}
		fmt.Fprint(w, "\\.\n\n\n")
	}
	for _, t := range all {
		fmt.Fprintf(w, "--\n-- Name: %s %s_pkey; Type: CONSTRAINT; Schema: public; Owner: -\n--\n\nALTER TABLE ONLY public.%s\n    ADD CONSTRAINT %s_pkey PRIMARY KEY (id);\n\n", t, t, t, t)
	}
	fmt.Fprint(w, "--\n-- PostgreSQL database dump complete\n--\n\n")
	return w.Flush()
}

func bench(ctx context.Context, key string) error {
	cfg, client, err := benchenv.S3(ctx)
	if err != nil {
		return err
	}
	log := benchenv.Logger()
	d := snapshots.NewDeps(cfg, nil, client, log)

	// 1. Verification pass, before and with the index, after a read that warms
	// the S3 server's page cache.
	obj, err := objstore.NewReaderWith(ctx, client, cfg.S3.Bucket, key, d.S3Read)
	if err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, obj); err != nil {
		return err
	}
	obj.Close()
	etag, size := obj.ETag(), obj.Size()
	pass := func(inflate func(io.Reader) (io.Reader, error)) (time.Duration, error) {
		t0 := time.Now()
		obj, err := objstore.NewReaderWith(ctx, client, cfg.S3.Bucket, key, d.S3Read)
		if err != nil {
			return 0, err
		}
		defer obj.Close()
		zr, err := inflate(bufio.NewReaderSize(obj, 1<<20))
		if err != nil {
			return 0, err
		}
		_, err = extract.Inventory(zr)
		return time.Since(t0), err
	}
	indexPass := func() (time.Duration, *seekgz.Index, error) {
		t0 := time.Now()
		obj, err := objstore.NewReaderWith(ctx, client, cfg.S3.Bucket, key, d.S3Read)
		if err != nil {
			return 0, nil, err
		}
		defer obj.Close()
		idx, _, err := verify.IndexDump(bufio.NewReaderSize(obj, 1<<20), etag, size)
		return time.Since(t0), idx, err
	}
	// Two interleaved rounds, the faster of each: the machine is noisy.
	var plainVerify, seekVerify, indexVerify time.Duration
	var idx *seekgz.Index
	for round := 0; round < 2; round++ {
		p, err := pass(func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) })
		if err != nil {
			return err
		}
		s, err := pass(func(r io.Reader) (io.Reader, error) { return seekgz.NewReader(r) })
		if err != nil {
			return err
		}
		i, x, err := indexPass()
		if err != nil {
			return err
		}
		if round == 0 || p < plainVerify {
			plainVerify = p
		}
		if round == 0 || s < seekVerify {
			seekVerify = s
		}
		if round == 0 || i < indexVerify {
			indexVerify = i
		}
		idx = x
	}
	enc, err := idx.Marshal()
	if err != nil {
		return err
	}
	ib, ik := d.IndexLocation(key, etag)
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &ib, Key: &ik, Body: bytes.NewReader(enc), ContentLength: aws.Int64(int64(len(enc)))}); err != nil {
		return err
	}
	fmt.Printf("verify_plain_s %.2f\nverify_seekgz_s %.2f\nverify_index_s %.2f\nindex_bytes %d\ncompressed_bytes %d\nuncompressed_bytes %d\ncheckpoints %d\n",
		plainVerify.Seconds(), seekVerify.Seconds(), indexVerify.Seconds(), len(enc), size, idx.Length, len(idx.Checkpoints))

	snap := snapshots.Snapshot{Key: key, ETag: etag, Size: size}
	late := []extract.QualifiedName{{Schema: "public", Name: "late"}}

	// 2. The late table through the index; 3. the same from the whole dump.
	for _, mode := range []string{"ranged", "full"} {
		db := "bench_seek_" + mode
		url, drop, err := scratch(ctx, cfg.ProjectsAdminURL, db)
		if err != nil {
			return err
		}
		t0 := time.Now()
		src, err := objstore.NewReaderWith(ctx, client, cfg.S3.Bucket, key, objstore.ReaderOptions{ETag: etag, Size: size})
		if err != nil {
			drop()
			return err
		}
		var in io.Reader
		var dump *snapshots.Dump
		if mode == "ranged" {
			// What OpenDump does, less the digest check against the portal's
			// database: fetch the index, decode it, open the ranges.
			var x *seekgz.Index
			if x, err = fetchIndex(ctx, client, ib, ik); err == nil {
				dump, err = snapshots.OpenIndexed(ctx, d, snap, src, late, x, nil)
			}
			if err == nil && !dump.Ranged {
				err = fmt.Errorf("not ranged: %s", dump.Fallback)
			}
			in = dump
		} else {
			in, err = gzip.NewReader(bufio.NewReaderSize(src, 1<<20))
		}
		if err != nil {
			src.Close()
			drop()
			return err
		}
		res, err := restore.Apply(ctx, in, restore.Options{DatabaseURL: url, Jobs: 2, Tables: late})
		took := time.Since(t0)
		read := src.Offset()
		if dump != nil {
			read = dump.Planned() + int64(len(enc)) // bytes requested: ranges and the index
			dump.Close()
		}
		src.Close()
		drop()
		if err != nil {
			return fmt.Errorf("%s restore: %w", mode, err)
		}
		if len(res.Tables) != 1 || res.Tables[0].CopiedRows != 2000 {
			return fmt.Errorf("%s restore: %+v", mode, res.Tables)
		}
		fmt.Printf("late_%s_s %.3f\nlate_%s_s3_bytes %d\n", mode, took.Seconds(), mode, read)
	}
	return nil
}

// scratch creates an empty database and returns its URL and a drop function.
func scratch(ctx context.Context, adminURL, db string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	name := pgx.Identifier{db}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return "", nil, err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	cc := conn.Config()
	url := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cmp.Or(cc.User, "postgres"), cc.Host, cc.Port, db)
	drop := func() {
		c, err := pgx.Connect(context.Background(), adminURL)
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	}
	return url, drop, nil
}

// put uploads file to key.
func put(ctx context.Context, key, file string) error {
	cfg, client, err := benchenv.S3(ctx)
	if err != nil {
		return err
	}
	if err := objstore.EnsureBucket(ctx, client, cfg.S3.Bucket); err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: &cfg.S3.Bucket, Key: &key, Body: f, ContentLength: aws.Int64(st.Size())})
	return err
}

// rm deletes the dump at key and its access indexes.
func rm(ctx context.Context, key string) error {
	cfg, client, err := benchenv.S3(ctx)
	if err != nil {
		return err
	}
	h, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &cfg.S3.Bucket, Key: &key})
	if err != nil {
		return err
	}
	ib, ik := snapshots.NewDeps(cfg, nil, client, nil).IndexLocation(key, aws.ToString(h.ETag))
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &ib, Key: &ik}); err != nil {
		return err
	}
	_, err = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &cfg.S3.Bucket, Key: &key})
	return err
}

func fetchIndex(ctx context.Context, client *s3.Client, bucket, key string) (*seekgz.Index, error) {
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, err
	}
	return seekgz.Unmarshal(data)
}

// indexFile prints the index size of a local gzipped dump.
func indexFile(name string) error {
	idx, size, err := benchenv.IndexFile(name, "local")
	if err != nil {
		return err
	}
	enc, err := idx.Marshal()
	if err != nil {
		return err
	}
	fmt.Printf("seek_index_bytes %d\nseek_checkpoints %d\nseek_compressed_bytes %d\n", len(enc), len(idx.Checkpoints), size)
	return nil
}
