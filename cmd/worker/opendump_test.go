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
)

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
