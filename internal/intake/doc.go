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
//     subject tag "[Restore #123]". Its new information is merged into the
//     ticket's request only when it is the requester's (or a listed alias's,
//     such as the agent who forwarded it), the ticket is still in triage
//     and, with Deps.RequireDMARC, the receiving server did not find DMARC
//     failing. Otherwise what it asks for that differs from the ticket is a
//     tickets.Proposal that staff accept or dismiss: mail proposes, staff
//     decide. Headers and threading prove nothing about who sent a mail;
//     the entry shows the receiving server's Authentication-Results;
//   - a mail forwarded by one of Deps.Forwarders (inline or attached) is
//     the original sender's: they are the requester and get the answers;
//   - anything else becomes a new email ticket, in needs_info when a field is
//     missing, ambiguous or wrong (the reply asks for exactly those), else new,
//     waiting for triage. A malformed mail still becomes a ticket that says
//     what could not be read.
//
// A mail whose processing fails on River's last attempt is marked failed
// (ProcessFailed) and listed for staff (UnfiledList) to retry (MailRetry):
// nothing that was answered 250 ends in silence.
//
// How each field was found and how sure intake is of it goes to the thread as
// a system entry. Answers are NotifyArgs jobs, inserted in the same
// transaction; internal/jobs sends them.
//
// The package imports no HTTP or River client code: jobs are inserted through
// JobInserter (a *river.Client[pgx.Tx] satisfies it).
package intake
