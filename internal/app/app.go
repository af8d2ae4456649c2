// Package app holds the start-up steps both binaries share: load and print
// config, build the logger, and fail at start with one clear line.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/database"
)

// Fatal prints err as one line naming the binary and exits 1. Config errors
// already name their variable.
func Fatal(binary string, err error) {
	var ce *config.Error
	if errors.As(err, &ce) {
		fmt.Fprintf(os.Stderr, "%s: bad configuration: %s\n", binary, ce)
	} else {
		fmt.Fprintf(os.Stderr, "%s: %s\n", binary, err)
	}
	os.Exit(1)
}

// Start loads the config from the environment, prints it (secrets redacted)
// to w and returns it with a logger.
func Start(binary string, w io.Writer) (config.Config, *slog.Logger, error) {
	cfg, err := config.Load(config.Environ)
	if err != nil {
		return config.Config{}, nil, err
	}
	fmt.Fprintf(w, "%s: configuration\n", binary)
	cfg.Print(w)
	return cfg, NewLogger(cfg, os.Stderr), nil
}

// NewLogger builds the slog logger the config asks for.
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// OpenDatabase opens the portal's database pool and applies the migrations
// when migrate is true. A connection failure names PORTAL_DATABASE_URL.
func OpenDatabase(ctx context.Context, cfg config.Config, log *slog.Logger, migrate bool) (*pgxpool.Pool, error) {
	pool, err := database.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("PORTAL_DATABASE_URL: %w", err)
	}
	if migrate {
		if err := database.Migrate(ctx, pool, log); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return pool, nil
}
