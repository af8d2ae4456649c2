package jobs

// DrillLockKey is ref's drill lock key, for the tests that cut its session.
func DrillLockKey(ref string) int64 { return drillLockKey(ref) }
