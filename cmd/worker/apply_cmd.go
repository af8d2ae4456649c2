package main

import (
	"context"
	"os"
)

// apply dispatches to runApply (apply.go).
func apply(ctx context.Context, args []string) error {
	return runApply(ctx, args, os.Stderr)
}
