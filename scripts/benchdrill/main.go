// Command benchdrill is the Go half of scripts/bench-drill.sh: "setup" seeds
// the demo projects into a portal database of its own, syncs the catalog and
// verifies each project's newest snapshot, printing "ref key" lines; "drill
// ROUNDS" runs the real drill worker in this process and drills every demo
// project ROUNDS times one after the other (PORTAL_DRILL_CONCURRENCY 1),
// printing one line per drill and the drills per hour; "setup-large REF
// DATABASE OWNER" registers a project database already filled on the project
// cluster and captures a verified snapshot of it, printing "ref key"; "drill-one
// REF" drills REF once, printing "drill REF DURATION_MS RECOVERY_MS WALL_MS
// PHASES" (WALL_MS from the insert of the job to the record's end, PHASES
// name=ms,...), so that the script can pair each drill with a `worker apply`
// of the same snapshot.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/restoreportal/portal/internal/database"
	"github.com/restoreportal/portal/internal/demo"
	"github.com/restoreportal/portal/internal/drills"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/verify"
	"github.com/restoreportal/portal/scripts/benchenv"
)

func main() { benchenv.Main("benchdrill", run) }

func run(ctx context.Context, e *benchenv.Env, args []string) error {
	if len(args) < 1 {
		return errors.New("usage: benchdrill setup | drill ROUNDS | setup-large REF DATABASE OWNER | drill-one REF")
	}
	switch args[0] {
	case "setup":
		if err := database.Migrate(ctx, e.Pool, e.Log); err != nil {
			return err
		}
		if err := demo.Seed(ctx, demo.Deps{Config: e.Config, Pool: e.Pool, S3: e.S3, Log: e.Log}); err != nil {
			return err
		}
		sd := e.Snapshots()
		if _, err := snapshots.Sync(ctx, sd, snapshots.SyncOptions{Full: true}); err != nil {
			return err
		}
		for _, ref := range demo.Refs {
			list, err := snapshots.SnapshotListByProject(ctx, e.Pool, ref, 5)
			if err != nil {
				return err
			}
			for _, s := range list {
				if s.Status != snapshots.StatusVerified {
					if s, err = verify.Snapshot(ctx, sd, s.ID); err != nil {
						return err
					}
				}
				if s.Status == snapshots.StatusVerified {
					fmt.Println(ref, s.Key)
					break
				}
			}
		}
		return nil
	case "drill":
		rounds := 3
		if len(args) > 1 {
			var err error
			if rounds, err = strconv.Atoi(args[1]); err != nil {
				return err
			}
		}
		return drill(ctx, e, rounds)
	case "setup-large":
		if len(args) < 4 {
			return errors.New("usage: benchdrill setup-large REF DATABASE OWNER")
		}
		return setupLarge(ctx, e, args[1], args[2], args[3])
	case "drill-one":
		if len(args) < 2 {
			return errors.New("usage: benchdrill drill-one REF")
		}
		return drillOneCmd(ctx, e, args[1])
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func drill(ctx context.Context, e *benchenv.Env, rounds int) error {
	rc, stop, err := e.StartWorkers(ctx)
	if err != nil {
		return err
	}
	defer stop()
	start := time.Now()
	n := 0
	for r := 0; r < rounds; r++ {
		for _, ref := range demo.Refs {
			d, err := drillOne(ctx, e.Pool, rc, ref)
			if err != nil {
				return err
			}
			if d.Outcome != drills.OutcomePassed {
				return fmt.Errorf("drill %d of %s %s: %s", d.ID, ref, d.Outcome, d.Reason)
			}
			n++
			fmt.Printf("drill %s %d %d\n", ref, *d.DurationMS, *d.RecoveryMS)
		}
	}
	fmt.Printf("total %d %.3f\n", n, time.Since(start).Seconds())
	return nil
}

func drillOne(ctx context.Context, pool *pgxpool.Pool, rc *river.Client[pgx.Tx], ref string) (drills.Drill, error) {
	jobID, err := drills.DrillNow(ctx, rc, ref)
	if err != nil {
		return drills.Drill{}, err
	}
	deadline := time.Now().Add(30 * time.Minute)
	for time.Now().Before(deadline) {
		var id int64
		err := pool.QueryRow(ctx, `SELECT id FROM drills WHERE job_id = $1 AND outcome IN ('passed', 'failed') ORDER BY id DESC LIMIT 1`, jobID).Scan(&id)
		if err == nil {
			return drills.DrillGet(ctx, pool, id)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return drills.Drill{}, err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return drills.Drill{}, fmt.Errorf("drill of %s did not finish in 30m", ref)
}

// setupLarge registers database db (owned by owner) as project ref and
// captures a verified snapshot of it (pg_dump, seekable gzip, into S3).
func setupLarge(ctx context.Context, e *benchenv.Env, ref, db, owner string) error {
	if err := e.Prepare(ctx); err != nil {
		return err
	}
	if _, err := snapshots.ProjectRegister(ctx, e.Pool, snapshots.ProjectPlacement{Ref: ref, Database: db, Cluster: "default", OwnerRole: owner}); err != nil {
		return err
	}
	start := time.Now()
	snap, err := verify.Capture(ctx, e.Snapshots(), ref, false)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	if snap.Status != snapshots.StatusVerified {
		return fmt.Errorf("snapshot %d of %s is %s, not verified", snap.ID, ref, snap.Status)
	}
	fmt.Fprintf(os.Stderr, "snapshot %d: %s, %d bytes gzipped, captured and verified in %s\n", snap.ID, snap.Key, snap.Size, time.Since(start).Round(time.Second))
	fmt.Println(ref, snap.Key)
	return nil
}

// drillOneCmd drills ref once with the real drill worker in this process.
func drillOneCmd(ctx context.Context, e *benchenv.Env, ref string) error {
	rc, stop, err := e.StartWorkers(ctx)
	if err != nil {
		return err
	}
	defer stop()
	pool := e.Pool
	start := time.Now()
	d, err := drillOne(ctx, pool, rc, ref)
	if err != nil {
		return err
	}
	wall := time.Since(start)
	if d.Outcome != drills.OutcomePassed {
		return fmt.Errorf("drill %d of %s %s: %s", d.ID, ref, d.Outcome, d.Reason)
	}
	phases := ""
	for i, p := range d.Phases {
		if i > 0 {
			phases += ","
		}
		phases += fmt.Sprintf("%s=%d", p.Name, p.MS)
	}
	fmt.Printf("drill %s %d %d %d %s\n", ref, *d.DurationMS, *d.RecoveryMS, wall.Milliseconds(), phases)
	return nil
}
