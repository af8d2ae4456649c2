package intake

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/restoreportal/portal/internal/dbx"
	"github.com/restoreportal/portal/internal/mail"
)

// DB is a pool, a connection or a transaction.
type DB = dbx.DBTX

// JobInserter inserts a River job inside the caller's transaction; the
// portal's *river.Client[pgx.Tx] satisfies it.
type JobInserter interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// QueueMail is the River queue of mail jobs, apart from the catalog's long
// verify and sync jobs so a busy catalog does not keep requesters waiting.
const QueueMail = "mail"

// ProcessArgs is the job that reads one stored mail and files it.
type ProcessArgs struct {
	MailID int64 `json:"mail_id" river:"unique"`
}

// Kind is the River job kind.
func (ProcessArgs) Kind() string { return "mail_process" }

// InsertOpts: one job per mail; a failing one is retried by River (the mail
// stays stored and marked received meanwhile).
func (ProcessArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMail, MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// NotifyArgs is the job that writes and sends one notification about a
// ticket to its requester. Missing and Problems are for NoticeNeedsInfo.
type NotifyArgs struct {
	TicketID int64           `json:"ticket_id"`
	Notice   mail.NoticeKind `json:"notice"`
	Missing  []string        `json:"missing,omitempty"`
	Problems []string        `json:"problems,omitempty"`
}

// Kind is the River job kind.
func (NotifyArgs) Kind() string { return "mail_notify" }

// InsertOpts: a relay outage is ridden out by River's retries (its backoff
// spreads 12 attempts over about a day); a permanent refusal stops at once.
func (NotifyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMail, MaxAttempts: 12}
}

// Notify queues a notification in tx, the transaction of the change it
// tells about.
func Notify(ctx context.Context, tx pgx.Tx, jobs JobInserter, args NotifyArgs) error {
	_, err := jobs.InsertTx(ctx, tx, args, nil)
	return err
}
