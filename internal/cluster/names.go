package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxIdentifierBytes is Postgres's identifier limit (NAMEDATALEN-1). A longer
// name is truncated silently, also in DROP DATABASE IF EXISTS and in a
// connection string's dbname, so a derived name that passed it could name
// another database (the live one). Every name derived here fits.
const MaxIdentifierBytes = 63

// Purpose is what a derived name is for.
type Purpose string

const (
	// PurposeStaging is the database a full or tables restore applies into.
	PurposeStaging Purpose = "staging"
	// PurposeKept is the replaced live database, kept for rollback.
	PurposeKept Purpose = "kept"
	// PurposeRollbackAside is the restored database a rollback moves aside.
	PurposeRollbackAside Purpose = "rollback_aside"
	// PurposeTableBackup is the schema, inside the live database, holding the
	// live rows a tables restore replaced.
	PurposeTableBackup Purpose = "table_backup"
	// PurposeTableBackupDB is the database beside live holding the rows a
	// table restore replaced.
	PurposeTableBackupDB Purpose = "table_backup_db"
	// PurposeTableAside is the database beside live holding the rows a table
	// rollback replaced: everything written since the restore.
	PurposeTableAside Purpose = "table_aside"
	// PurposeNewProject is the database of a new-project restore, named after
	// the new project's ref.
	PurposeNewProject Purpose = "new_project"
	// PurposeTargetRef is the default ref of a new-project restore's project.
	PurposeTargetRef Purpose = "target_ref"
	// PurposeOwnerRole is the non-superuser role owning a project database.
	PurposeOwnerRole Purpose = "owner_role"
	// PurposeDrill is the scratch database a restore drill applies into; the
	// number is the drill's id (drills have ids of their own, and the tag
	// keeps them apart from every ticket's names).
	PurposeDrill Purpose = "drill"
)

// tags are the suffix tags of per-ticket names; each ends in "_t" before the
// ticket number, so (tag, ticket) can be read back from the name's end and
// names of different purposes or tickets never meet.
var tags = map[Purpose]string{
	PurposeStaging:       "_stg_t",
	PurposeKept:          "_pre_t",
	PurposeRollbackAside: "_rb_t",
	PurposeTableBackupDB: "_bak_t",
	PurposeTableAside:    "_rba_t",
	PurposeDrill:         "_drl_t",
}

// Name is the one function that makes every name the portal derives on a
// project cluster: base is the live database (staging, kept, rollback-aside),
// the database an owner role is for, or a project ref (new project, default
// target ref); ticketID is the ticket the name is for (ignored by
// PurposeNewProject and PurposeOwnerRole). Every name is at most
// MaxIdentifierBytes bytes for any base of at most 63 bytes and any ticket id,
// and never equals base: where base plus suffix would be too long, base is cut
// (on a UTF-8 boundary) and a short hash of the whole base keeps names of
// different bases apart.
func Name(p Purpose, base string, ticketID int64) string {
	n := strconv.FormatInt(ticketID, 10)
	switch p {
	case PurposeStaging, PurposeKept, PurposeRollbackAside, PurposeTableBackupDB, PurposeTableAside, PurposeDrill:
		return bounded(base, tags[p]+n, "_")
	case PurposeTableBackup:
		return "restore_backup_t" + n
	case PurposeNewProject:
		// refs are ^[a-z0-9][a-z0-9-]{1,62}$ and hold no underscore, so the
		// mapping is one to one among refs.
		return bounded(strings.ReplaceAll(base, "-", "_"), "", "_")
	case PurposeTargetRef:
		return bounded(base, "-r"+n, "-")
	case PurposeOwnerRole:
		return bounded(base, "_owner", "_")
	}
	panic("cluster.Name: unknown purpose " + string(p))
}

// StagingName is Name(PurposeStaging, live, ticketID).
func StagingName(live string, ticketID int64) string { return Name(PurposeStaging, live, ticketID) }

// KeptName is Name(PurposeKept, live, ticketID).
func KeptName(live string, ticketID int64) string { return Name(PurposeKept, live, ticketID) }

// RollbackAsideName is Name(PurposeRollbackAside, live, ticketID).
func RollbackAsideName(live string, ticketID int64) string {
	return Name(PurposeRollbackAside, live, ticketID)
}

// TableBackupName is the database beside live that keeps the rows a table
// restore of the ticket replaced.
func TableBackupName(live string, ticketID int64) string {
	return Name(PurposeTableBackupDB, live, ticketID)
}

// TableAsideName is the database beside live that keeps the rows a table
// rollback of the ticket replaced.
func TableAsideName(live string, ticketID int64) string {
	return Name(PurposeTableAside, live, ticketID)
}

// DrillName is Name(PurposeDrill, live, drillID): the scratch database of
// drill drillID of the project whose live database is live.
func DrillName(live string, drillID int64) string { return Name(PurposeDrill, live, drillID) }

// BackupSchemaName is Name(PurposeTableBackup, "", ticketID).
func BackupSchemaName(ticketID int64) string { return Name(PurposeTableBackup, "", ticketID) }

// NewProjectDatabase is Name(PurposeNewProject, ref, 0): the database of the
// project ref (the same as snapshots.DatabaseName for every valid ref).
func NewProjectDatabase(ref string) string { return Name(PurposeNewProject, ref, 0) }

// DefaultTargetRef is Name(PurposeTargetRef, ref, ticketID): "<ref>-r<ticket>",
// shortened with a hash to stay a valid ref of at most 63 characters.
func DefaultTargetRef(ref string, ticketID int64) string {
	return Name(PurposeTargetRef, ref, ticketID)
}

// OwnerRoleName is Name(PurposeOwnerRole, database, 0).
func OwnerRoleName(database string) string { return Name(PurposeOwnerRole, database, 0) }

// bounded returns base+suffix when it fits in MaxIdentifierBytes, else a cut
// base, sep, 8 hex digits of base's SHA-256, and suffix. The cut form is never
// base itself (a salt is added in the absurd case that it would be).
func bounded(base, suffix, sep string) string {
	if len(base)+len(suffix) <= MaxIdentifierBytes {
		return base + suffix
	}
	for salt := 0; ; salt++ {
		in := base
		if salt > 0 {
			in += "\x00" + strconv.Itoa(salt)
		}
		sum := sha256.Sum256([]byte(in))
		h := hex.EncodeToString(sum[:4])
		if s := cutUTF8(base, MaxIdentifierBytes-len(suffix)-len(sep)-len(h)) + sep + h + suffix; s != base {
			return s
		}
	}
}

// cutUTF8 is the longest prefix of s of at most n bytes that does not split
// a UTF-8 sequence.
func cutUTF8(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
