package jobs

import (
	"context"

	"github.com/riverqueue/river"
)

// noopArgs is a job that does nothing; the smoke test of the worker uses it.
type noopArgs struct{}

func (noopArgs) Kind() string { return "noop" }

type noopWorker struct{ river.WorkerDefaults[noopArgs] }

func (*noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }
