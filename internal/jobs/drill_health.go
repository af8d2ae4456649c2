package jobs

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/restoreportal/portal/internal/drills"
	pmail "github.com/restoreportal/portal/internal/mail"
)

// The drill schedule, snapshot health and its alarm mail: River's side of
// internal/drills.

// alarmer raises alarms with the job client of the running job.
type alarmer struct {
	d    Deps
	jobs drills.JobInserter
}

func (d Deps) alarms(ctx context.Context) alarmer {
	a := alarmer{d: d}
	if rc, err := river.ClientFromContextSafely[pgx.Tx](ctx); err == nil {
		a.jobs = rc
	}
	return a
}

// HealthInserter is what CheckHealth queues alarm mails with.
type HealthInserter = drills.JobInserter

// apply raises and clears ref's alarms of the checked conditions, counting
// the ones that fired.
func (a alarmer) apply(ctx context.Context, ref string, checked []drills.Condition, found []drills.Finding) ([]drills.Alarm, error) {
	ops := a.d.Config.Drills.OpsAddress
	if a.jobs == nil {
		ops = "" // no client to queue the mail with (a one-shot run)
	}
	fired, err := drills.Alarms{DB: a.d.Pool, Jobs: a.jobs, Ops: ops}.Apply(ctx, ref, checked, found, time.Now())
	for _, al := range fired {
		metricAlarms.WithLabelValues(string(al.Condition)).Inc()
		a.d.Log.Warn("snapshot health alarm", "project_ref", al.ProjectRef, "condition", al.Condition, "detail", al.Detail, "mail", al.MailStatus)
	}
	return fired, err
}

// CheckHealth evaluates the snapshot conditions of every project (refs nil)
// or of refs, raising and clearing their alarms; it returns the alarms that
// fired. The health job runs it every sync interval. jobs queues the alarm
// mails (nil: the running job's client).
func CheckHealth(ctx context.Context, d Deps, jobs HealthInserter, refs []string) ([]drills.Alarm, error) {
	hs, err := drills.HealthOf(ctx, d.Pool, refs)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	a := d.alarms(ctx)
	if jobs != nil {
		a.jobs = jobs
	}
	open, err := drills.AlarmsOpenRefs(ctx, d.Pool)
	if err != nil {
		return nil, err
	}
	var fired []drills.Alarm
	var errs []error
	for _, h := range hs {
		found := drills.SnapshotFindings(h, now)
		if len(found) == 0 && !open[h.Ref] {
			continue // healthy and nothing to clear: no transaction
		}
		f, err := a.apply(ctx, h.Ref, drills.SnapshotConditions, found)
		fired = append(fired, f...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if counts, err := drills.AlarmsOpenCount(ctx, d.Pool); err == nil {
		for _, c := range drills.Conditions {
			metricAlarmsOpen.WithLabelValues(string(c)).Set(float64(counts[c]))
		}
	}
	return fired, errors.Join(errs...)
}

type healthWorker struct {
	river.WorkerDefaults[drills.HealthArgs]
	d Deps
}

func (w *healthWorker) Work(ctx context.Context, job *river.Job[drills.HealthArgs]) error {
	var refs []string
	if job.Args.Ref != "" {
		refs = []string{job.Args.Ref}
	}
	_, err := CheckHealth(ctx, w.d, nil, refs)
	return err
}

type drillScheduleWorker struct {
	river.WorkerDefaults[drills.ScheduleArgs]
	d Deps
}

// Work inserts the drills that are due; a project whose drill is still
// queued is skipped by the drill's uniqueness.
func (w *drillScheduleWorker) Work(ctx context.Context, job *river.Job[drills.ScheduleArgs]) error {
	due, err := drills.Due(ctx, w.d.Pool, w.d.Config.Drills.Every, time.Now())
	if err != nil || len(due) == 0 {
		return err
	}
	rc, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	params := make([]river.InsertManyParams, len(due))
	for i, ref := range due {
		params[i] = river.InsertManyParams{Args: drills.DrillArgs{ProjectRef: ref}}
	}
	if _, err := rc.InsertMany(ctx, params); err != nil {
		return fmt.Errorf("enqueue due drills: %w", err)
	}
	w.d.Log.Info("drills queued", "projects", len(due))
	return nil
}

// alarmMailWorker mails one alarm to PORTAL_OPS_ADDRESS through the relay,
// as the requester notices are: written once (same Message-ID on a retry),
// a relay outage retried by River, a permanent refusal recorded.
type alarmMailWorker struct {
	river.WorkerDefaults[drills.AlarmMailArgs]
	d Deps
}

func (w *alarmMailWorker) Timeout(*river.Job[drills.AlarmMailArgs]) time.Duration { return time.Minute }

func (w *alarmMailWorker) Work(ctx context.Context, job *river.Job[drills.AlarmMailArgs]) error {
	al, err := drills.AlarmGet(ctx, w.d.Pool, job.Args.AlarmID)
	if errors.Is(err, drills.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if al.MailStatus != "pending" {
		return nil
	}
	log := w.d.Log.With("alarm_id", al.ID, "project_ref", al.ProjectRef, "condition", al.Condition, "attempt", job.Attempt)
	cfg := w.d.Config.Mail
	if al.Raw == nil {
		raw, id, err := composeAlarm(w.d, al)
		if err != nil {
			_ = drills.AlarmMailDone(ctx, w.d.Pool, al.ID, "not_sent", err.Error())
			return river.JobCancel(err)
		}
		if al, err = drills.AlarmMailWritten(ctx, w.d.Pool, al.ID, id, raw); err != nil {
			return err
		}
	}
	if cfg.RelayAddr == "" {
		log.Warn("alarm not mailed: no SMTP relay configured (PORTAL_SMTP_RELAY)")
		return drills.AlarmMailDone(ctx, w.d.Pool, al.ID, "not_sent", "no SMTP relay is configured (PORTAL_SMTP_RELAY)")
	}
	from, _ := mail.ParseAddress(cfg.From)
	err = pmail.SendWith(ctx, cfg.RelayAddr, pmail.RelayOptions{TLS: cfg.RelayTLS, CAFile: cfg.RelayCA,
		User: cfg.RelayUser, Password: cfg.RelayPassword}, from.Address, []string{al.MailTo}, al.Raw)
	switch {
	case err == nil:
		log.Info("alarm mailed", "to", al.MailTo)
		return drills.AlarmMailDone(context.WithoutCancel(ctx), w.d.Pool, al.ID, "sent", "")
	case pmail.IsPermanent(err), job.Attempt >= job.MaxAttempts:
		log.Error("alarm not mailed", "err", err)
		if rerr := drills.AlarmMailDone(context.WithoutCancel(ctx), w.d.Pool, al.ID, "not_sent", err.Error()); rerr != nil {
			return rerr
		}
		return river.JobCancel(err)
	default:
		log.Warn("relay not reachable; River retries", "err", err)
		return err
	}
}

// composeAlarm writes the alarm's mail.
func composeAlarm(d Deps, al drills.Alarm) (raw []byte, messageID string, err error) {
	from, err := mail.ParseAddress(d.Config.Mail.From)
	if err != nil {
		return nil, "", fmt.Errorf("PORTAL_MAIL_FROM %q: %w", d.Config.Mail.From, err)
	}
	domain := from.Address[strings.LastIndex(from.Address, "@")+1:]
	messageID = pmail.NewMessageID(domain)
	subject := fmt.Sprintf("Snapshot health: %s: %s", al.ProjectRef, al.Condition.Label())
	text := fmt.Sprintf("%s\n\nProject: %s\nCondition: %s\nRaised: %s\n", al.Detail, al.ProjectRef, al.Condition,
		al.RaisedAt.UTC().Format("2006-01-02 15:04 UTC"))
	if d.Config.BaseURL != "" {
		text += fmt.Sprintf("\n%s/projects/%s\n", strings.TrimRight(d.Config.BaseURL, "/"), al.ProjectRef)
	}
	text += "\nThis alarm is mailed once per project and condition a day; it clears when the condition no longer holds.\n"
	raw, err = pmail.Compose(pmail.Outgoing{From: pmail.Address{Name: from.Name, Addr: from.Address},
		To: []pmail.Address{{Addr: al.MailTo}}, Subject: subject, Text: text, MessageID: messageID})
	return raw, messageID, err
}

func addDrillWorkers(w *river.Workers, d Deps) {
	river.AddWorker(w, &DrillWorker{d: d})
	river.AddWorker(w, &drillScheduleWorker{d: d})
	river.AddWorker(w, &healthWorker{d: d})
	river.AddWorker(w, &alarmMailWorker{d: d})
	addDrillRescue(w, d)
}

func drillPeriodicJobs(d Deps) []*river.PeriodicJob {
	once := &river.InsertOpts{Priority: drills.PriorityLowest, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
		rivertype.JobStateRetryable, rivertype.JobStateScheduled}}}
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(drills.ScheduleInterval),
			func() (river.JobArgs, *river.InsertOpts) { return drills.ScheduleArgs{}, once },
			&river.PeriodicJobOpts{ID: "restore_drill_schedule", RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(d.Config.Snapshots.SyncInterval),
			func() (river.JobArgs, *river.InsertOpts) { return drills.HealthArgs{}, once },
			&river.PeriodicJobOpts{ID: "snapshot_health", RunOnStart: true}),
		addDrillRescue(nil, d),
	}
}

// DrillQueue is the drill queue's config: PORTAL_DRILL_CONCURRENCY workers.
func DrillQueue(n int) river.QueueConfig { return river.QueueConfig{MaxWorkers: max(n, 1)} }
