package seekgz

import (
	"context"
	"io"

	"github.com/restoreportal/portal/internal/pgident"
)

// Part is one table's data a dump opened for a full restore leaves out of its
// main stream, to be read apart (restore.Part is this type): the dump engine
// applies it on a connection of its own while the main stream goes on.
type Part struct {
	Table pgident.QualifiedName
	Bytes int64 // uncompressed size, for the log
	// Open opens the part's uncompressed bytes; ctx ends when Apply gives up, and
	// the reader is closed once read.
	Open func(ctx context.Context) (io.ReadCloser, error)
}
