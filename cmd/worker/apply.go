package main

import (
	"context"
	"errors"
	"io"
)

// runApply is replaced by the dump engine's break-glass command.
func runApply(ctx context.Context, args []string, stderr io.Writer) error {
	return errors.New("apply: not built yet")
}
