package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/objstore"
)

// Command is one subcommand of a binary; args are those after its name.
type Command func(ctx context.Context, args []string) error

// Main runs the subcommand named by os.Args[1] under a context that SIGINT
// and SIGTERM cancel. No subcommand or an unknown one prints usage and exits
// 2; help prints usage; a failing one exits 1 through Fatal.
func Main(binary, usage string, cmds map[string]Command) {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	name := os.Args[1]
	switch name {
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	}
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "%s: unknown command %q\n%s", binary, name, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cmd(ctx, os.Args[2:])
	stop()
	if err != nil {
		Fatal(binary, err)
	}
}

// Migrations says whether Open applies the migrations.
type Migrations int

const (
	MigrateNever  Migrations = iota // one-shot commands that expect a migrated database
	MigrateIfAuto                   // long-running servers: when PORTAL_AUTO_MIGRATE is set
	MigrateAlways                   // portal migrate
)

// Runtime is what a command starts from: the config, the logger, the
// portal's pool and, when asked for, the S3 client.
type Runtime struct {
	Config config.Config
	Log    *slog.Logger
	Pool   *pgxpool.Pool
	S3     *s3.Client
}

// Close closes the pool.
func (r Runtime) Close() {
	if r.Pool != nil {
		r.Pool.Close()
	}
}

// Open is the start-up both binaries share: Start (config printed to out,
// logger), OpenDatabase with the migrations m asks for, and with withS3 the
// S3 client. On an error nothing is left open.
func Open(ctx context.Context, binary string, out io.Writer, m Migrations, withS3 bool) (Runtime, error) {
	var r Runtime
	var err error
	if r.Config, r.Log, err = Start(binary, out); err != nil {
		return Runtime{}, err
	}
	migrate := m == MigrateAlways || m == MigrateIfAuto && r.Config.AutoMigrate
	if r.Pool, err = OpenDatabase(ctx, r.Config, r.Log, migrate); err != nil {
		return Runtime{}, err
	}
	if withS3 {
		if r.S3, err = objstore.New(ctx, r.Config.S3); err != nil {
			r.Close()
			return Runtime{}, err
		}
	}
	return r, nil
}
