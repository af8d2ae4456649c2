package intake

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// SQL of the mail that could not be filed: inbound_mail rows failed, or
// stranded by their processing job.

// stranded is the SQL condition of a mail still 'received' whose processing
// job has ended without filing it: a worker that died on the last attempt,
// or a job cancelled by hand. Such mail is listed and retried like a failed
// one, so nothing is lost even when ProcessFailed never ran.
const stranded = `(m.status = 'received' AND NOT EXISTS (SELECT 1 FROM river_job j
		WHERE j.kind = 'mail_process' AND (j.args->>'mail_id')::bigint = m.id
			AND j.state NOT IN ('discarded', 'cancelled', 'completed'))
	AND EXISTS (SELECT 1 FROM river_job j
		WHERE j.kind = 'mail_process' AND (j.args->>'mail_id')::bigint = m.id AND j.state IN ('discarded', 'cancelled')))`

// inboundSetFailed marks a mail still received as failed, with msg.
func inboundSetFailed(ctx context.Context, db DB, id int64, msg string) error {
	_, err := db.Exec(ctx, `UPDATE inbound_mail SET status = 'failed', error = $2, failed_at = now()
		WHERE id = $1 AND status = 'received'`, id, msg)
	return err
}

// inboundRequeueUnfiled puts a failed or stranded mail back to received,
// counting the retry; requeued is false for a mail that is neither.
func inboundRequeueUnfiled(ctx context.Context, tx pgx.Tx, id int64) (requeued bool, err error) {
	tag, err := tx.Exec(ctx, `UPDATE inbound_mail m SET status = 'received', retries = retries + 1
			WHERE id = $1 AND (status = 'failed' OR `+stranded+`)`, id)
	return tag.RowsAffected() > 0, err
}

// unfiledRow is a mail not filed as stored, with its raw bytes.
type unfiledRow struct {
	Unfiled
	raw []byte
}

// inboundListUnfiled returns the failed and stranded mail, newest first.
func inboundListUnfiled(ctx context.Context, db DB, limit int) ([]unfiledRow, error) {
	rows, err := db.Query(ctx, `SELECT m.id, m.envelope_from, m.message_id,
			CASE WHEN m.status = 'failed' THEN m.error ELSE coalesce((SELECT 'its processing job ended without filing it: ' ||
				coalesce(j.errors[array_length(j.errors, 1)]->>'error', j.state::text) FROM river_job j
				WHERE j.kind = 'mail_process' AND (j.args->>'mail_id')::bigint = m.id ORDER BY j.id DESC LIMIT 1), '') END,
			m.retries, m.received_at, coalesce(m.failed_at, m.received_at), m.raw
		FROM inbound_mail m WHERE m.status = 'failed' OR `+stranded+` ORDER BY m.id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (unfiledRow, error) {
		var u unfiledRow
		err := r.Scan(&u.ID, &u.From, &u.MessageID, &u.Error, &u.Retries, &u.ReceivedAt, &u.FailedAt, &u.raw)
		return u, err
	})
}
