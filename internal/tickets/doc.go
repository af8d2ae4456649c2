// Package tickets is the restore workflow: a ticket holds one customer's
// request (project, time, scope, mode), the snapshot staff chose for it, its
// state, approvals, the restore job's progress and result, and its message
// thread. Every state change goes through one transition function that checks
// the state machine (state.go) and appends to the audit trail in the same
// transaction.
//
// Callers:
//
//   - the portal's pages and JSON API: Create, EditRequest, Prepare, Submit,
//     Start, Approve, Withdraw, Retry, Reject, Cancel, AskForInfo, Assign,
//     RequestRollback, AddEntry (notes), Preflight;
//   - mail intake: Create with Source "email", AddEntry, FindByMessageID,
//     ParseSubjectTag / SubjectTag;
//   - the restore workers (internal/jobs): MarkRunning, UpdateProgress, Finish,
//     FinishRollback, with RestoreArgs and RollbackArgs as their job args.
//
// The package imports no HTTP or template code; jobs are inserted through
// the JobInserter interface (a *river.Client satisfies it) inside the
// transaction of the state change. A cancel and a staged-review decision end
// or wake the ticket's job in that transaction through River's JobCancelTx
// and JobRetryTx, on a pool-less River client of the package's own
// (job_store.go): it only acts on the transaction it is handed.
package tickets
