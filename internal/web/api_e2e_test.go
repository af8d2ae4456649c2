package web_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/database"
	"github.com/restoreportal/portal/internal/demo"
	"github.com/restoreportal/portal/internal/jobs"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/tickets/tickettest"
	"github.com/restoreportal/portal/internal/verify"
	"github.com/restoreportal/portal/internal/web"
)

// TestAPIMailedTicketToRestoreAndRollback is a script's whole day, through
// the JSON API and the mail webhook only (no page is fetched): a customer's
// mail becomes a ticket; an operator finds it, prepares it against the
// project's real verified snapshot and asks for approval; an approver reads
// the plan's digest and approves; the real workers restore the snapshot into
// the live database; the approver rolls it back; the thread shows the mails
// the portal sent, with their Message-IDs. The live database ends as it was
// before the restore.
func TestAPIMailedTicketToRestoreAndRollback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := testenv.Config(t)
	s3c, bucket := testenv.S3(t)
	cfg.S3.Bucket = bucket
	cfg.Worker.ApplyJobs = 2
	cfg.Mail.IntakeSecret = intakeSecret
	cfg.Mail.RelayAddr = "" // answers are recorded as not sent
	pool, err := database.Open(ctx, testenv.PortalURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	log := testenv.Logger(t)

	// The customer's project: a live database with two days of changes, and
	// a verified snapshot of it taken by the platform's capture.
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ref := fmt.Sprintf("proj-api%x", b)
	dbname := demo.DatabaseName(ref)
	t.Cleanup(func() { dropProjectDatabases(cfg.ProjectsAdminURL, dbname) })
	liveURL, err := demo.CreateDatabase(ctx, cfg.ProjectsAdminURL, dbname)
	if err != nil {
		t.Fatal(err)
	}
	live, err := pgx.Connect(ctx, liveURL)
	if err != nil {
		t.Fatal(err)
	}
	for day := 0; day < 2; day++ {
		if err := demo.ChangeDay(ctx, live, ref, day); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO projects (ref, database_name, source) VALUES ($1, $2, 'registered')`, ref, dbname); err != nil {
		t.Fatal(err)
	}
	snap, err := verify.Capture(ctx, snapshots.NewDeps(cfg, pool, s3c, log), ref, false)
	if err != nil {
		t.Fatalf("capture: %v", err)
	}
	// A day of changes after the snapshot: the restore takes them away, the
	// rollback brings them back.
	if err := demo.ChangeDay(ctx, live, ref, 2); err != nil {
		t.Fatal(err)
	}
	live.Close(ctx)
	before := tableCounts(t, liveURL)

	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: log, Queues: jobs.Queues(cfg),
		Workers: jobs.Workers(jobs.Deps{Config: cfg, Pool: pool, S3: s3c, Log: log}), FetchCooldown: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = rc.Stop(ctx)
	})
	srv := httptest.NewServer(web.New(web.Deps{Config: cfg, Pool: pool, S3: s3c, River: rc, Log: log}))
	t.Cleanup(srv.Close)
	p := &portal{srv: srv, pool: pool}
	token := func(email string, role auth.Role) string {
		u := tickettest.User(t, pool, email, role)
		_, secret, err := auth.CreateToken(ctx, pool, audit.System("test"), u.ID, "script")
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}
	op, ap := token("op-"+ref+"@example.com", auth.RoleOperator), token("ap-"+ref+"@example.com", auth.RoleApprover)

	// 1. The customer's mail.
	raw := []byte(fmt.Sprintf("From: Dana Customer <dana@customer.example>\r\nTo: support@portal.example\r\n"+
		"Subject: Please restore %s\r\nMessage-ID: <restore-%s@customer.example>\r\nDate: %s\r\n\r\n"+
		"Hello,\r\nwe broke our data today. Please restore project %s to %s UTC, the full database.\r\nDana\r\n",
		ref, ref, time.Now().UTC().Format(time.RFC1123Z), ref, snap.TakenAt.Add(time.Minute).UTC().Format("2006-01-02 15:04")))
	if code, body := postMail(t, srv.URL, raw, time.Now(), intakeSecret); code != http.StatusAccepted {
		t.Fatalf("mail: %d %s", code, body)
	}
	// 2. The operator's script finds the ticket the mail made.
	var id any
	pollAPI(t, 30*time.Second, "the mailed ticket", func() bool {
		code, got := p.api(t, op, "GET", "/api/v1/tickets?project="+ref, nil)
		list, _ := got["tickets"].([]any)
		if code != http.StatusOK || len(list) != 1 {
			return false
		}
		tk := list[0].(map[string]any)
		id = tk["id"]
		return tk["source"] == "email"
	})
	path := fmt.Sprintf("/api/v1/tickets/%v", id)
	code, got := p.api(t, op, "POST", path+"/prepare", map[string]any{"snapshot_id": snap.ID, "scope": map[string]any{"kind": "full"}, "mode": "destructive"})
	if code != http.StatusOK || got["state"] != "ready" {
		t.Fatalf("prepare: %d %v", code, got)
	}
	if code, _, got := p.raw(t, op, "POST", path+"/submit", nil); code != http.StatusOK || got["state"] != "awaiting_approval" {
		t.Fatalf("submit: %d %v", code, got)
	}
	// 3. The approver reads the plan and approves exactly it.
	_, got = p.api(t, ap, "GET", path, nil)
	code, got = p.api(t, ap, "POST", path+"/approve", map[string]any{"confirm_ref": ref, "plan_digest": got["plan_digest"]})
	if code != http.StatusOK || got["state"] != "queued" {
		t.Fatalf("approve: %d %v", code, got)
	}
	// 4. The workers restore; the script follows the ticket.
	var final map[string]any
	pollAPI(t, 3*time.Minute, "the restore to finish", func() bool {
		_, final = p.api(t, ap, "GET", path, nil)
		return final["state"] == "succeeded" || final["state"] == "failed"
	})
	if final["state"] != "succeeded" || final["rollback_digest"] == nil {
		t.Fatalf("restore: %v", final)
	}
	restored := tableCounts(t, liveURL)
	if fmt.Sprint(restored) == fmt.Sprint(before) {
		t.Fatalf("the live database did not change: %v", restored)
	}
	// 5. Rolled back, by the digest the script read.
	code, got = p.api(t, ap, "POST", path+"/rollback", map[string]any{"confirm_ref": ref, "rollback_digest": final["rollback_digest"]})
	if code != http.StatusOK {
		t.Fatalf("rollback: %d %v", code, got)
	}
	pollAPI(t, 2*time.Minute, "the rollback", func() bool {
		_, final = p.api(t, ap, "GET", path, nil)
		res, _ := final["result"].(map[string]any)
		return final["state"] == "rolled_back" || (res != nil && res["rollback_error"] != nil && res["rollback_error"] != "")
	})
	if final["state"] != "rolled_back" {
		t.Fatalf("rollback: %v", final)
	}
	if after := tableCounts(t, liveURL); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("after the rollback %v, before the restore %v", after, before)
	}
	// 6. The thread: the customer's mail and what the portal sent back.
	var thread map[string]any
	pollAPI(t, 30*time.Second, "the notices in the thread", func() bool {
		_, thread = p.api(t, op, "GET", path+"/thread", nil)
		mails, _ := thread["mails"].([]any)
		return len(mails) >= 2
	})
	if !strings.Contains(fmt.Sprint(thread["entries"]), "restore-"+ref+"@customer.example") {
		t.Errorf("the customer's mail is not on the thread: %v", thread["entries"])
	}
	for _, m := range thread["mails"].([]any) {
		m := m.(map[string]any)
		if m["message_id"] == "" || m["status"] != "not_sent" || m["to"] != "dana@customer.example" {
			t.Errorf("mail %v", m)
		}
	}
}

// tableCounts is the row count of every table of the live database (a new
// connection each time: a cut-over ends the sessions of the one it replaces).
func tableCounts(t *testing.T, url string) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT quote_ident(schemaname) || '.' || quote_ident(relname) FROM pg_stat_user_tables ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, n := range names {
		var c int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+n).Scan(&c); err != nil {
			t.Fatal(err)
		}
		out[n] = c
	}
	return out
}

// pollAPI waits for cond, asked every 100 ms, up to timeout.
func pollAPI(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dropProjectDatabases drops the databases and owner roles of a test project.
func dropProjectDatabases(adminURL, db string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE $1`, db+"%")
	names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, n := range names {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)")
	}
	rows, _ = conn.Query(ctx, `SELECT r.rolname FROM pg_roles r
		JOIN pg_auth_members m ON m.member = r.oid JOIN pg_roles g ON g.oid = m.roleid
		WHERE starts_with(r.rolname, 'portal_restore_') AND g.rolname LIKE $1
		UNION ALL
		SELECT rolname FROM pg_roles WHERE rolname LIKE $1`, db+"%_owner")
	roles, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, r := range roles {
		_, _ = conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{r}.Sanitize())
	}
}
