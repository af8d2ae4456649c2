package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/demo"
	"github.com/restoreportal/portal/internal/testenv"
)

// TestApplyCommand runs the real worker binary's break-glass command: a
// gzipped pg_dump of a demo-shaped database applies into an empty database,
// a truncated one fails with one clear line, and an unknown --table names
// the closest tables.
func TestApplyCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	bin := buildWorker(t)
	src := testenv.Name("apply_src_")
	t.Cleanup(func() { testenv.DropDatabase(t, src) })
	srcURL, err := demo.CreateDatabase(ctx, testenv.AdminURL(t), src)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, srcURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.ChangeDay(ctx, conn, "proj-x", 0); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	plain := pgDump(t, srcURL)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	good, cut := filepath.Join(dir, "good.sql.gz"), filepath.Join(dir, "cut.sql.gz")
	os.WriteFile(good, gz.Bytes(), 0o644)
	os.WriteFile(cut, gz.Bytes()[:gz.Len()/2], 0o644)

	run := func(args ...string) (string, error) { return execApply(bin, nil, args...) }

	target := testenv.NewDatabase(t)
	out, err := run("--dump", good, "--database-url", target, "--jobs", "2")
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	tc, err := pgx.Connect(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close(ctx)
	var users int
	if err := tc.QueryRow(ctx, `SELECT count(*) FROM auth.users`).Scan(&users); err != nil || users != 40 {
		t.Fatalf("applied database has %d users (%v), want 40; output:\n%s", users, err, out)
	}

	out, err = run("--dump", cut, "--database-url", testenv.NewDatabase(t))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err == nil || !strings.HasPrefix(lines[len(lines)-1], "worker: ") || !strings.Contains(out, "unexpected EOF") {
		t.Fatalf("truncated dump: err %v, output:\n%s", err, out)
	}

	out, err = run("--dump", good, "--database-url", testenv.NewDatabase(t), "--table", "public.order")
	if err == nil || !strings.Contains(out, "public.orders") {
		t.Fatalf("unknown table: err %v, output:\n%s", err, out)
	}

	// From S3, with the S3 settings read through the config package.
	client, bucket := testenv.S3(t)
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("p/good.sql.gz"),
		Body: bytes.NewReader(gz.Bytes())}); err != nil {
		t.Fatal(err)
	}
	s3env := stackS3Env(t)
	runEnv := func(env []string, args ...string) (string, error) { return execApply(bin, env, args...) }
	fromS3 := testenv.NewDatabase(t)
	if out, err := runEnv(s3env, "--dump", "s3://"+bucket+"/p/good.sql.gz", "--database-url", fromS3); err != nil {
		t.Fatalf("apply from S3: %v\n%s", err, out)
	}
	s3c, err := pgx.Connect(ctx, fromS3)
	if err != nil {
		t.Fatal(err)
	}
	defer s3c.Close(ctx)
	if err := s3c.QueryRow(ctx, `SELECT count(*) FROM auth.users`).Scan(&users); err != nil || users != 40 {
		t.Fatalf("database applied from S3 has %d users (%v), want 40", users, err)
	}
	// A malformed setting is refused naming it (os.Getenv took it for true).
	out, err = runEnv(append(s3env, "PORTAL_S3_PATH_STYLE=yes please"), "--dump", "s3://"+bucket+"/p/good.sql.gz",
		"--database-url", testenv.NewDatabase(t))
	if err == nil || !strings.Contains(out, "PORTAL_S3_PATH_STYLE") {
		t.Fatalf("bad PORTAL_S3_PATH_STYLE: err %v, output:\n%s", err, out)
	}
}

// TestOpenDumpReadsEveryMemberAndChecksIt: openDump's gzip decoder (seekgz,
// as the restore path reads) is a drop-in for compress/gzip: a file of
// several members (what a seekable capture writes) reads whole, a member
// whose CRC-32 or size is wrong fails with gzip.ErrChecksum, a cut file with
// io.ErrUnexpectedEOF, and a plain dump passes through unchanged.
func TestOpenDumpReadsEveryMemberAndChecksIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	parts := []string{strings.Repeat("COPY public.a (id) FROM stdin;\n1\n\\.\n", 2000), "", strings.Repeat("-- tail\n", 3000)}
	var gz bytes.Buffer
	for _, p := range parts {
		zw := gzip.NewWriter(&gz)
		zw.Write([]byte(p))
		zw.Close()
	}
	whole := strings.Join(parts, "")
	first := bytes.Index(gz.Bytes()[2:], []byte{0x1f, 0x8b, 8}) + 2 // the second member's header
	badCRC := bytes.Clone(gz.Bytes())
	badCRC[first-8] ^= 0xff // the first member's CRC-32
	badSize := bytes.Clone(gz.Bytes())
	badSize[len(badSize)-1] ^= 0x01 // the last member's ISIZE
	for _, c := range []struct {
		name string
		data []byte
		want string
		err  error
	}{
		{"members", gz.Bytes(), whole, nil},
		{"bad crc", badCRC, "", gzip.ErrChecksum},
		{"bad size", badSize, "", gzip.ErrChecksum},
		{"cut", gz.Bytes()[:gz.Len()/2], "", io.ErrUnexpectedEOF},
		{"plain", []byte(whole), whole, nil},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, done, err := openDump(context.Background(), path)
		if err != nil {
			t.Fatalf("%s: open: %v", c.name, err)
		}
		got, err := io.ReadAll(r)
		done()
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%s: read error %v, want %v", c.name, err, c.err)
			}
			continue
		}
		if err != nil || string(got) != c.want {
			t.Errorf("%s: read %d bytes, %v; want %d bytes", c.name, len(got), err, len(c.want))
		}
	}
}
