package extract

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"
)

var benchDump = sync.OnceValue(func() []byte { return generateDump(64 << 20) })

// generateDump builds a plain dump of about size bytes: a few DDL entries and
// pgbench-like tables whose rows vary in length.
func generateDump(size int) []byte {
	var b bytes.Buffer
	b.WriteString("--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 15.18\n-- Dumped by pg_dump version 15.18\n\nSET statement_timeout = 0;\n")
	for t := 0; b.Len() < size; t++ {
		fmt.Fprintf(&b, "--\n-- Name: t%d; Type: TABLE; Schema: public; Owner: -\n--\n\nCREATE TABLE public.t%d (\n    id integer NOT NULL,\n    v text\n);\n\n", t, t)
		fmt.Fprintf(&b, "--\n-- Data for Name: t%d; Type: TABLE DATA; Schema: public; Owner: -\n--\n\nCOPY public.t%d (id, v) FROM stdin;\n", t, t)
		for i := 0; i < 200000 && b.Len() < size; i++ {
			fmt.Fprintf(&b, "%d\t%d-%s\n", i, i*7, "a-row-of-text-with-some\\tescapes-"[:20+i%13])
		}
		b.WriteString("\\.\n\n\n")
	}
	b.WriteString("--\n-- PostgreSQL database dump complete\n--\n\n")
	return b.Bytes()
}

func BenchmarkReader(b *testing.B) {
	dump := benchDump()
	b.SetBytes(int64(len(dump)))
	for b.Loop() {
		rd := NewReader(bytes.NewReader(dump))
		buf := make([]byte, 256<<10)
		for {
			e, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if e.Kind == KindCopy {
				if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{e.Rows}, buf); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

func BenchmarkInventory(b *testing.B) {
	dump := benchDump()
	b.SetBytes(int64(len(dump)))
	for b.Loop() {
		inv, err := Inventory(bytes.NewReader(dump))
		if err != nil || !inv.TrailerSeen {
			b.Fatal(err)
		}
	}
}

// BenchmarkClassifyStatement runs the statement gate over every statement of a real
// schema-heavy pg_dump (testdata/schema.sql); bytes are statement text.
func BenchmarkClassifyStatement(b *testing.B) {
	var stmts []string
	n := 0
	eachEntry(b, "schema.sql", NewReader(openTestdata(b, "schema.sql")).Next, func(e Entry) {
		if e.Kind != KindMeta {
			stmts = append(stmts, e.SQL)
			n += len(e.SQL)
		}
	})
	b.SetBytes(int64(n))
	for b.Loop() {
		for _, s := range stmts {
			if r := ClassifyStatement(s); r != nil {
				b.Fatalf("%s: %s", r.What, s)
			}
		}
	}
}
