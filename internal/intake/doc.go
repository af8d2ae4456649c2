// Package intake turns support mail into tickets and thread entries: the glue
// between the mail core (internal/mail) and the restore workflow
// (internal/tickets).
//
// A mail meets it twice. Deliver, called by the SMTP listener and by
// POST /intake/email, stores the raw bytes first (inbound_mail, stored once
// per Message-ID) and, in the same transaction, queues a ProcessArgs job, so
// nothing that was answered 250 or 202 is ever lost, whatever the parser
// thinks of it. Process, run by that job, reads the mail and decides:
//
//   - automatic mail (auto-replies, bounces, receipts) is recorded on its
//     ticket's thread when one matches, and never answered;
//   - a reply joins its ticket by In-Reply-To / References, else by the
//     subject tag "[Restore #123]"; its new information is merged into the
//     ticket's request while the ticket is still in triage;
//   - anything else becomes a new email ticket, in needs_info when a field is
//     missing, ambiguous or wrong (the reply asks for exactly those), else new,
//     waiting for triage. A malformed mail still becomes a ticket that says
//     what could not be read.
//
// How each field was found and how sure intake is of it goes to the thread as
// a system entry. Answers are NotifyArgs jobs, inserted in the same
// transaction; internal/jobs sends them.
//
// The package imports no HTTP or River client code: jobs are inserted through
// JobInserter (a *river.Client[pgx.Tx] satisfies it).
package intake
