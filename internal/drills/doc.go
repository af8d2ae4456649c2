// Package drills proves that every project's newest verified snapshot
// restores: the drill records (one per attempt, its scratch database recorded
// before it exists), the River job args that run them (the worker lives in
// internal/jobs), the weekly schedule spread by a hash of each ref, the
// snapshot health alarms (a failed drill, a slow recovery, no snapshot, a
// corrupt or oddly sized newest snapshot) and the reports an auditor asks
// for. It imports no echo, templ or River client; args and the JobInserter
// interface are River's types only.
package drills
