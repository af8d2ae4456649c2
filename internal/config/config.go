// Package config reads the portal's and the worker's settings from environment
// variables, applies defaults, validates them and prints them with secrets
// redacted. It is read once in main and passed down; no package keeps config
// in globals.
package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of both binaries.
type Config struct {
	DatabaseURL      string // PORTAL_DATABASE_URL: the portal's own Postgres (catalog, tickets, River queue)
	ProjectsAdminURL string // PORTAL_PROJECTS_ADMIN_URL: superuser URL of the cluster hosting project databases
	HTTPAddr         string // PORTAL_HTTP_ADDR
	BaseURL          string // PORTAL_BASE_URL: how people reach the portal (links in mail)
	AutoMigrate      bool   // PORTAL_AUTO_MIGRATE: apply migrations at start of serve/run
	LogLevel         string // PORTAL_LOG_LEVEL: debug, info, warn, error
	LogFormat        string // PORTAL_LOG_FORMAT: text or json
	SecureCookies    bool   // PORTAL_SECURE_COOKIES: mark cookies Secure (behind TLS)
	// ApprovalTTL is PORTAL_APPROVAL_TTL: how long a destructive plan submitted
	// for approval waits; then the request lapses and must be submitted again.
	ApprovalTTL time.Duration
	PGDump      string // PORTAL_PG_DUMP: the pg_dump binary used for captures
	// Clusters maps every project cluster's name to its superuser URL (secret):
	// "default" is ProjectsAdminURL, more come from PORTAL_CLUSTERS
	// (name=url,...) and PORTAL_CLUSTERS_FILE (one "name url" per line).
	Clusters     map[string]string
	ClustersFile string // PORTAL_CLUSTERS_FILE
	// ExtensionsAllow lists the extensions a restore may create (as the admin):
	// PORTAL_EXTENSIONS_ALLOW, comma separated.
	ExtensionsAllow []string
	S3              S3
	Worker          Worker
	Snapshots       Snapshots
	Mail            Mail

	// PreviewExactRows is PORTAL_PREVIEW_EXACT_ROWS: a restore's preview counts
	// a live table's rows exactly up to this size (the planner's estimate),
	// else shows the estimate, labelled "about".
	PreviewExactRows int
	// StagedReviewTTL is PORTAL_STAGED_REVIEW_TTL: how long a restore paused
	// for staged review waits for its cut-over to be confirmed; then the
	// restored copy is dropped and the live project stays as it is.
	StagedReviewTTL time.Duration
	Drills          Drills
}

// Drills tunes restore drills and snapshot health alarms.
type Drills struct {
	// Cluster is PORTAL_DRILL_CLUSTER: the project cluster drills restore
	// into; empty means each project's own cluster.
	Cluster string
	// Concurrency is PORTAL_DRILL_CONCURRENCY: drills one worker runs at once.
	Concurrency int
	// Every is PORTAL_DRILL_EVERY: how often each project is drilled, spread
	// over that period by a hash of its ref.
	Every time.Duration
	// OpsAddress is PORTAL_OPS_ADDRESS: where snapshot health alarms are
	// mailed; empty: they are shown and counted, not mailed.
	OpsAddress string
	// HeapCheck is PORTAL_DRILL_HEAP_CHECK: which B-tree indexes a drill
	// checks against the heap (amcheck's heapallindexed), one of the
	// HeapCheck* values; the others get bt_index_check's structure check.
	HeapCheck string
}

// The values of PORTAL_DRILL_HEAP_CHECK.
const (
	// HeapCheckComputed (the default): only indexes whose keys the copy can
	// compute differently than the source did: expression and partial
	// indexes, and indexes with a column whose collation is not
	// byte-order (C, POSIX, ucs_basic) or whose operator class is not
	// built in. Under HeapCheckNone an index on an IMMUTABLE function
	// redefined since the index was built passes: its structure is sound,
	// only the heap check finds the heap tuples it lacks.
	HeapCheckComputed = "computed"
	// HeapCheckAll: every B-tree index (a heap pass per index).
	HeapCheckAll = "all"
	// HeapCheckNone: the structure check only, everywhere.
	HeapCheckNone = "none"
)

// S3 is where snapshots live.
type S3 struct {
	Endpoint  string // PORTAL_S3_ENDPOINT: empty means AWS
	Region    string // PORTAL_S3_REGION
	Bucket    string // PORTAL_S3_BUCKET
	Prefix    string // PORTAL_S3_PREFIX
	AccessKey string // PORTAL_S3_ACCESS_KEY
	SecretKey string // PORTAL_S3_SECRET_KEY (secret)
	PathStyle bool   // PORTAL_S3_PATH_STYLE
	// RetryFor is how long a read retries transient S3 failures (refused or dropped
	// connections, timeouts, 5xx) of one outage before it fails (PORTAL_S3_RETRY_FOR).
	RetryFor time.Duration
	// IdleTimeout cuts a read that receives no byte for this long; it resumes by
	// range (PORTAL_S3_IDLE_TIMEOUT).
	IdleTimeout time.Duration
	// IndexBucket holds the snapshots' access indexes (PORTAL_S3_INDEX_BUCKET;
	// empty: Bucket), so the snapshot bucket may be read-only to the portal.
	IndexBucket string
	// IndexPrefix is the key prefix of the access indexes (PORTAL_S3_INDEX_PREFIX),
	// outside Prefix so that sync never sees them.
	IndexPrefix string
}

// Worker tunes the job runner.
type Worker struct {
	Concurrency int           // PORTAL_WORKER_CONCURRENCY: restore jobs run at once by one worker
	ApplyJobs   int           // PORTAL_APPLY_JOBS: parallel connections of one restore (0 = CPUs)
	MetricsAddr string        // PORTAL_METRICS_ADDR: worker /metrics and /healthz
	KeepFor     time.Duration // PORTAL_KEEP_FOR: how long a replaced database is kept for rollback
	RescueAfter time.Duration // PORTAL_RESCUE_AFTER: when a job of a dead worker is handed to another
	// CaptureConcurrency is PORTAL_CAPTURE_CONCURRENCY: captures (pg_dump to
	// S3) one worker runs at once, on a queue of their own.
	CaptureConcurrency int
	// CaptureMemoryMiB is PORTAL_CAPTURE_MEMORY_MIB: the most memory one
	// capture's compression and upload buffers take, in MiB; the seekable
	// writer makes its members smaller, then compresses fewer at once, to
	// stay under it.
	CaptureMemoryMiB int
	// SplitTablesMiB is PORTAL_SPLIT_TABLES_MIB: a full restore through the
	// access index reads a table's data of at least this many MiB in pieces on
	// several connections; 0 never does.
	SplitTablesMiB int
	// RestoreMaxAttempts is PORTAL_RESTORE_MAX_ATTEMPTS: how many attempts a
	// restore gets whose worker died before the ticket fails.
	RestoreMaxAttempts int
	// PGRetryFor is PORTAL_PG_RETRY_FOR: how long a restore retries one outage
	// of Postgres (the project cluster or the portal's database: refused or
	// dropped connections, shutdown and startup errors) before the ticket
	// fails. Such retries are not counted as attempts of a dead worker.
	PGRetryFor time.Duration
}

// Snapshots tunes the catalog.
type Snapshots struct {
	SyncInterval    time.Duration // PORTAL_SYNC_INTERVAL
	CaptureSchedule string        // PORTAL_CAPTURE_SCHEDULE: daily capture time, HH:MM UTC; empty disables
	RetentionKeep   int           // PORTAL_RETENTION_KEEP: newest automatic snapshots kept per project
	// SafetyKeepFor is PORTAL_SAFETY_KEEP_FOR: how long the safety snapshot a
	// destructive restore takes is kept (default PORTAL_KEEP_FOR); then
	// retention deletes it from S3 and the catalog.
	SafetyKeepFor time.Duration
}

// Mail is the intake listener and the outbound relay.
type Mail struct {
	SMTPAddr         string   // PORTAL_SMTP_ADDR: intake listener; empty disables it
	SupportAddresses []string // PORTAL_SUPPORT_ADDRESSES: comma separated
	RelayAddr        string   // PORTAL_SMTP_RELAY: host:port for outbound mail; empty disables sending
	From             string   // PORTAL_MAIL_FROM
	IntakeSecret     string   // PORTAL_INTAKE_SECRET: HMAC secret of POST /intake/email (secret)
	MaxMessageBytes  int64    // PORTAL_MAIL_MAX_BYTES
	Forwarders       []string // PORTAL_MAIL_FORWARDERS: staff/agent addresses and @domains whose forwards belong to the original sender
	RequireDMARC     bool     // PORTAL_MAIL_REQUIRE_DMARC: no field changes from mail that failed DMARC
	RelayTLS         string   // PORTAL_SMTP_RELAY_TLS: starttls (default), required, off
	RelayUser        string   // PORTAL_SMTP_RELAY_USER: SMTP AUTH user; empty: no AUTH
	RelayPassword    string   // PORTAL_SMTP_RELAY_PASSWORD (secret)
	RelayCA          string   // PORTAL_SMTP_RELAY_CA: PEM file of CAs the relay's certificate is checked against; empty: the system's
	TLSCert          string   // PORTAL_SMTP_TLS_CERT: PEM certificate the intake listener offers STARTTLS with
	TLSKey           string   // PORTAL_SMTP_TLS_KEY: its private key
}

// Error names the variable that is wrong, so a bad start prints one clear line.
type Error struct {
	Var string
	Msg string
}

func (e *Error) Error() string { return e.Var + ": " + e.Msg }

// Load reads the environment through getenv (os.Getenv in main, a map in tests).
func Load(getenv func(string) string) (Config, error) {
	r := reader{getenv: getenv}
	c := Config{
		DatabaseURL:      r.str("PORTAL_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal?sslmode=disable"),
		ProjectsAdminURL: r.str("PORTAL_PROJECTS_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		HTTPAddr:         r.str("PORTAL_HTTP_ADDR", "127.0.0.1:8080"),
		BaseURL:          r.str("PORTAL_BASE_URL", ""),
		AutoMigrate:      r.boolean("PORTAL_AUTO_MIGRATE", false),
		LogLevel:         r.str("PORTAL_LOG_LEVEL", "info"),
		LogFormat:        r.str("PORTAL_LOG_FORMAT", "text"),
		SecureCookies:    r.boolean("PORTAL_SECURE_COOKIES", false),
		ApprovalTTL:      r.duration("PORTAL_APPROVAL_TTL", 24*time.Hour),
		PGDump:           r.str("PORTAL_PG_DUMP", "pg_dump"),
		ClustersFile:     r.str("PORTAL_CLUSTERS_FILE", ""),
		ExtensionsAllow:  r.list("PORTAL_EXTENSIONS_ALLOW", DefaultExtensions),
		S3:               r.s3(),
		Worker: Worker{
			Concurrency: r.integer("PORTAL_WORKER_CONCURRENCY", 2),
			ApplyJobs:   r.integer("PORTAL_APPLY_JOBS", 0),
			MetricsAddr: r.str("PORTAL_METRICS_ADDR", "127.0.0.1:9090"),
			KeepFor:     r.duration("PORTAL_KEEP_FOR", 7*24*time.Hour),
			RescueAfter: r.duration("PORTAL_RESCUE_AFTER", time.Minute),

			CaptureConcurrency: r.integer("PORTAL_CAPTURE_CONCURRENCY", 1),
			CaptureMemoryMiB:   r.integer("PORTAL_CAPTURE_MEMORY_MIB", 150),
			SplitTablesMiB:     r.integer("PORTAL_SPLIT_TABLES_MIB", 0),
			RestoreMaxAttempts: r.integer("PORTAL_RESTORE_MAX_ATTEMPTS", 3),
			PGRetryFor:         r.duration("PORTAL_PG_RETRY_FOR", 10*time.Minute),
		},
		Snapshots: Snapshots{
			SyncInterval:    r.duration("PORTAL_SYNC_INTERVAL", 5*time.Minute),
			CaptureSchedule: r.str("PORTAL_CAPTURE_SCHEDULE", "02:00"),
			RetentionKeep:   r.integer("PORTAL_RETENTION_KEEP", 30),
			SafetyKeepFor:   r.duration("PORTAL_SAFETY_KEEP_FOR", 0),
		},
		Mail: Mail{
			SMTPAddr:         r.str("PORTAL_SMTP_ADDR", ""),
			SupportAddresses: r.list("PORTAL_SUPPORT_ADDRESSES", "restore@support.localhost"),
			RelayAddr:        r.str("PORTAL_SMTP_RELAY", ""),
			From:             r.str("PORTAL_MAIL_FROM", "Restore Portal <restore@support.localhost>"),
			IntakeSecret:     r.str("PORTAL_INTAKE_SECRET", ""),
			MaxMessageBytes:  int64(r.integer("PORTAL_MAIL_MAX_BYTES", 25<<20)),
			Forwarders:       r.list("PORTAL_MAIL_FORWARDERS", ""),
			RequireDMARC:     r.boolean("PORTAL_MAIL_REQUIRE_DMARC", false),
			RelayTLS:         r.str("PORTAL_SMTP_RELAY_TLS", "starttls"),
			RelayUser:        r.str("PORTAL_SMTP_RELAY_USER", ""),
			RelayPassword:    r.str("PORTAL_SMTP_RELAY_PASSWORD", ""),
			RelayCA:          r.str("PORTAL_SMTP_RELAY_CA", ""),
			TLSCert:          r.str("PORTAL_SMTP_TLS_CERT", ""),
			TLSKey:           r.str("PORTAL_SMTP_TLS_KEY", ""),
		},
	}
	c.PreviewExactRows = r.integer("PORTAL_PREVIEW_EXACT_ROWS", 1_000_000)
	c.StagedReviewTTL = r.duration("PORTAL_STAGED_REVIEW_TTL", 24*time.Hour)
	c.Drills = Drills{
		Cluster:     r.str("PORTAL_DRILL_CLUSTER", ""),
		Concurrency: r.integer("PORTAL_DRILL_CONCURRENCY", 1),
		Every:       r.duration("PORTAL_DRILL_EVERY", 7*24*time.Hour),
		OpsAddress:  r.str("PORTAL_OPS_ADDRESS", ""),
		HeapCheck:   strings.ToLower(strings.TrimSpace(r.str("PORTAL_DRILL_HEAP_CHECK", HeapCheckComputed))),
	}
	clusters := r.str("PORTAL_CLUSTERS", "")
	if r.err != nil {
		return Config{}, r.err
	}
	if c.Snapshots.SafetyKeepFor == 0 {
		c.Snapshots.SafetyKeepFor = c.Worker.KeepFor
	}
	var err error
	if c.Clusters, err = loadClusters(c.ProjectsAdminURL, clusters, c.ClustersFile); err != nil {
		return Config{}, err
	}
	return c, c.validate()
}

// DefaultExtensions is PORTAL_EXTENSIONS_ALLOW's default: extensions whose
// install scripts are safe to run for a customer (trusted or data-type ones).
const DefaultExtensions = "citext,pgcrypto,uuid-ossp,pg_trgm,btree_gist,btree_gin,hstore,ltree,vector,pg_stat_statements"

var clusterName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// loadClusters builds the cluster map. Errors never quote a URL (it may hold
// a password).
func loadClusters(defaultURL, list, file string) (map[string]string, error) {
	m := map[string]string{"default": defaultURL}
	add := func(src, name, u string) error {
		if !clusterName.MatchString(name) {
			return &Error{src, fmt.Sprintf("cluster name %q is not lowercase letters, digits, - and _", name)}
		}
		if _, dup := m[name]; dup {
			return &Error{src, fmt.Sprintf("cluster %q is defined twice (\"default\" is PORTAL_PROJECTS_ADMIN_URL)", name)}
		}
		if err := checkPostgresURL(u); err != nil {
			return &Error{src, fmt.Sprintf("cluster %q: URL %s", name, err)}
		}
		m[name] = u
		return nil
	}
	for _, item := range strings.Split(list, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		name, u, ok := strings.Cut(item, "=")
		if !ok {
			return nil, &Error{"PORTAL_CLUSTERS", "entries are name=postgres://..., comma separated"}
		}
		if err := add("PORTAL_CLUSTERS", strings.TrimSpace(name), strings.TrimSpace(u)); err != nil {
			return nil, err
		}
	}
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, &Error{"PORTAL_CLUSTERS_FILE", err.Error()}
		}
		for i, line := range strings.Split(string(raw), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			f := strings.Fields(line)
			if len(f) != 2 {
				return nil, &Error{"PORTAL_CLUSTERS_FILE", fmt.Sprintf("line %d is not \"name url\"", i+1)}
			}
			if err := add("PORTAL_CLUSTERS_FILE", f[0], f[1]); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// ClusterNames lists the configured clusters, sorted.
func (c Config) ClusterNames() []string {
	names := make([]string, 0, len(c.Clusters))
	for n := range c.Clusters {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// validate checks the S3 settings apart from the bucket.
func (s S3) validate() error {
	if err := s.endpointAndKeys(); err != nil {
		return err
	}
	return s.durations()
}

func (s S3) endpointAndKeys() error {
	if s.Endpoint != "" {
		u, err := url.Parse(s.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &Error{"PORTAL_S3_ENDPOINT", fmt.Sprintf("%q is not an http(s) URL such as http://127.0.0.1:7070", s.Endpoint)}
		}
	}
	if (s.AccessKey == "") != (s.SecretKey == "") {
		return &Error{"PORTAL_S3_SECRET_KEY", "set both PORTAL_S3_ACCESS_KEY and PORTAL_S3_SECRET_KEY, or neither"}
	}
	return nil
}

func (s S3) durations() error {
	if s.RetryFor <= 0 {
		return &Error{"PORTAL_S3_RETRY_FOR", "must be above zero"}
	}
	if s.IdleTimeout <= 0 {
		return &Error{"PORTAL_S3_IDLE_TIMEOUT", "must be above zero"}
	}
	return nil
}

func (c Config) validate() error {
	for _, u := range []struct{ name, val string }{
		{"PORTAL_DATABASE_URL", c.DatabaseURL},
		{"PORTAL_PROJECTS_ADMIN_URL", c.ProjectsAdminURL},
	} {
		if err := checkPostgresURL(u.val); err != nil {
			return &Error{u.name, err.Error()}
		}
	}
	if c.S3.Bucket == "" {
		return &Error{"PORTAL_S3_BUCKET", "is required (the bucket holding the snapshots)"}
	}
	if sameBucket := c.S3.IndexBucket == "" || c.S3.IndexBucket == c.S3.Bucket; sameBucket &&
		(c.S3.IndexPrefix == "" || c.S3.IndexPrefix == c.S3.Prefix || strings.HasPrefix(c.S3.IndexPrefix+"/", c.S3.Prefix+"/") ||
			strings.HasPrefix(c.S3.Prefix+"/", c.S3.IndexPrefix+"/")) {
		return &Error{"PORTAL_S3_INDEX_PREFIX", fmt.Sprintf("%q overlaps the snapshot prefix %q in the same bucket", c.S3.IndexPrefix, c.S3.Prefix)}
	}
	if err := c.S3.endpointAndKeys(); err != nil {
		return err
	}
	for _, a := range []struct{ name, val string }{
		{"PORTAL_HTTP_ADDR", c.HTTPAddr},
		{"PORTAL_METRICS_ADDR", c.Worker.MetricsAddr},
		{"PORTAL_SMTP_ADDR", c.Mail.SMTPAddr},
		{"PORTAL_SMTP_RELAY", c.Mail.RelayAddr},
	} {
		if a.val == "" && a.name != "PORTAL_HTTP_ADDR" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.val); err != nil {
			return &Error{a.name, fmt.Sprintf("%q is not host:port", a.val)}
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return &Error{"PORTAL_LOG_LEVEL", fmt.Sprintf("%q is not one of debug, info, warn, error", c.LogLevel)}
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return &Error{"PORTAL_LOG_FORMAT", fmt.Sprintf("%q is not text or json", c.LogFormat)}
	}
	if err := c.S3.durations(); err != nil {
		return err
	}
	if c.Worker.Concurrency < 1 {
		return &Error{"PORTAL_WORKER_CONCURRENCY", "must be at least 1"}
	}
	if c.Worker.CaptureConcurrency < 1 {
		return &Error{"PORTAL_CAPTURE_CONCURRENCY", "must be at least 1"}
	}
	if c.Worker.SplitTablesMiB != 0 && c.Worker.SplitTablesMiB < 64 {
		return &Error{"PORTAL_SPLIT_TABLES_MIB", "must be 0 (never) or at least 64 (a piece is at least 32 MiB)"}
	}
	if c.Worker.CaptureMemoryMiB < 32 {
		return &Error{"PORTAL_CAPTURE_MEMORY_MIB", "must be at least 32 (the upload alone buffers 24 MiB)"}
	}
	if c.Worker.RestoreMaxAttempts < 1 || c.Worker.RestoreMaxAttempts > 20 {
		return &Error{"PORTAL_RESTORE_MAX_ATTEMPTS", "must be between 1 and 20"}
	}
	if c.Worker.PGRetryFor <= 0 {
		return &Error{"PORTAL_PG_RETRY_FOR", "must be above zero"}
	}
	if c.Worker.ApplyJobs < 0 {
		return &Error{"PORTAL_APPLY_JOBS", "must be 0 (one per CPU) or more"}
	}
	if c.Snapshots.CaptureSchedule != "" {
		if _, err := time.Parse("15:04", c.Snapshots.CaptureSchedule); err != nil {
			return &Error{"PORTAL_CAPTURE_SCHEDULE", fmt.Sprintf("%q is not HH:MM (UTC)", c.Snapshots.CaptureSchedule)}
		}
	}
	if c.Snapshots.RetentionKeep < 1 {
		return &Error{"PORTAL_RETENTION_KEEP", "must be at least 1"}
	}
	if err := c.validateDrills(); err != nil {
		return err
	}
	return c.Mail.validate()
}

func (c Config) validateDrills() error {
	d := c.Drills
	if _, ok := c.Clusters[d.Cluster]; d.Cluster != "" && !ok {
		return &Error{"PORTAL_DRILL_CLUSTER", fmt.Sprintf("%q is not a configured cluster (%s)", d.Cluster, strings.Join(c.ClusterNames(), ", "))}
	}
	if d.Concurrency < 1 {
		return &Error{"PORTAL_DRILL_CONCURRENCY", "must be at least 1"}
	}
	if d.Every < time.Hour {
		return &Error{"PORTAL_DRILL_EVERY", "must be at least 1h"}
	}
	switch d.HeapCheck {
	case HeapCheckComputed, HeapCheckAll, HeapCheckNone:
	default:
		return &Error{"PORTAL_DRILL_HEAP_CHECK", fmt.Sprintf("%q is not one of computed, all, none", d.HeapCheck)}
	}
	if d.OpsAddress != "" && !strings.Contains(d.OpsAddress, "@") {
		return &Error{"PORTAL_OPS_ADDRESS", fmt.Sprintf("%q is not a mail address", d.OpsAddress)}
	}
	return nil
}

func (m Mail) validate() error {
	switch m.RelayTLS {
	case "starttls", "required", "tls", "off":
	default:
		return &Error{"PORTAL_SMTP_RELAY_TLS", fmt.Sprintf("%q is not starttls, required, tls or off", m.RelayTLS)}
	}
	if (m.RelayUser == "") != (m.RelayPassword == "") {
		return &Error{"PORTAL_SMTP_RELAY_PASSWORD", "set both PORTAL_SMTP_RELAY_USER and PORTAL_SMTP_RELAY_PASSWORD, or neither"}
	}
	if m.RelayUser != "" && m.RelayTLS == "off" {
		return &Error{"PORTAL_SMTP_RELAY_TLS", "is off, but PORTAL_SMTP_RELAY_USER is set: the password is never sent without TLS"}
	}
	if (m.TLSCert == "") != (m.TLSKey == "") {
		return &Error{"PORTAL_SMTP_TLS_KEY", "set both PORTAL_SMTP_TLS_CERT and PORTAL_SMTP_TLS_KEY, or neither"}
	}
	for _, f := range m.Forwarders {
		if !strings.Contains(f, "@") {
			return &Error{"PORTAL_MAIL_FORWARDERS", fmt.Sprintf("%q is not an address or @domain", f)}
		}
	}
	return nil
}

func checkPostgresURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("is not a URL")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Errorf("scheme %q is not postgres://", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	return nil
}

// Print writes every setting, one per line, with secrets redacted.
func (c Config) Print(w io.Writer) {
	line := func(k string, v any) { fmt.Fprintf(w, "  %-28s %v\n", k, v) }
	line("PORTAL_DATABASE_URL", RedactURL(c.DatabaseURL))
	line("PORTAL_PROJECTS_ADMIN_URL", RedactURL(c.ProjectsAdminURL))
	line("PORTAL_HTTP_ADDR", c.HTTPAddr)
	line("PORTAL_BASE_URL", c.BaseURL)
	line("PORTAL_AUTO_MIGRATE", c.AutoMigrate)
	line("PORTAL_LOG_LEVEL", c.LogLevel)
	line("PORTAL_LOG_FORMAT", c.LogFormat)
	line("PORTAL_SECURE_COOKIES", c.SecureCookies)
	line("PORTAL_APPROVAL_TTL", c.ApprovalTTL)
	line("PORTAL_PREVIEW_EXACT_ROWS", c.PreviewExactRows)
	line("PORTAL_STAGED_REVIEW_TTL", c.StagedReviewTTL)
	line("PORTAL_PG_DUMP", c.PGDump)
	line("PORTAL_CLUSTERS", strings.Join(c.ClusterNames(), ",")+" (URLs not shown)")
	line("PORTAL_CLUSTERS_FILE", c.ClustersFile)
	line("PORTAL_EXTENSIONS_ALLOW", strings.Join(c.ExtensionsAllow, ","))
	line("PORTAL_S3_ENDPOINT", c.S3.Endpoint)
	line("PORTAL_S3_REGION", c.S3.Region)
	line("PORTAL_S3_BUCKET", c.S3.Bucket)
	line("PORTAL_S3_PREFIX", c.S3.Prefix)
	line("PORTAL_S3_ACCESS_KEY", c.S3.AccessKey)
	line("PORTAL_S3_SECRET_KEY", redact(c.S3.SecretKey))
	line("PORTAL_S3_PATH_STYLE", c.S3.PathStyle)
	line("PORTAL_S3_RETRY_FOR", c.S3.RetryFor)
	line("PORTAL_S3_IDLE_TIMEOUT", c.S3.IdleTimeout)
	line("PORTAL_S3_INDEX_BUCKET", c.S3.IndexBucket)
	line("PORTAL_S3_INDEX_PREFIX", c.S3.IndexPrefix)
	line("PORTAL_WORKER_CONCURRENCY", c.Worker.Concurrency)
	line("PORTAL_APPLY_JOBS", c.Worker.ApplyJobs)
	line("PORTAL_METRICS_ADDR", c.Worker.MetricsAddr)
	line("PORTAL_KEEP_FOR", c.Worker.KeepFor)
	line("PORTAL_RESCUE_AFTER", c.Worker.RescueAfter)
	line("PORTAL_CAPTURE_CONCURRENCY", c.Worker.CaptureConcurrency)
	line("PORTAL_CAPTURE_MEMORY_MIB", c.Worker.CaptureMemoryMiB)
	line("PORTAL_SPLIT_TABLES_MIB", c.Worker.SplitTablesMiB)
	line("PORTAL_RESTORE_MAX_ATTEMPTS", c.Worker.RestoreMaxAttempts)
	line("PORTAL_PG_RETRY_FOR", c.Worker.PGRetryFor)
	line("PORTAL_SYNC_INTERVAL", c.Snapshots.SyncInterval)
	line("PORTAL_CAPTURE_SCHEDULE", c.Snapshots.CaptureSchedule)
	line("PORTAL_RETENTION_KEEP", c.Snapshots.RetentionKeep)
	line("PORTAL_SAFETY_KEEP_FOR", c.Snapshots.SafetyKeepFor)
	line("PORTAL_SMTP_ADDR", c.Mail.SMTPAddr)
	line("PORTAL_SUPPORT_ADDRESSES", strings.Join(c.Mail.SupportAddresses, ","))
	line("PORTAL_SMTP_RELAY", c.Mail.RelayAddr)
	line("PORTAL_MAIL_FROM", c.Mail.From)
	line("PORTAL_INTAKE_SECRET", redact(c.Mail.IntakeSecret))
	line("PORTAL_MAIL_MAX_BYTES", c.Mail.MaxMessageBytes)
	line("PORTAL_MAIL_FORWARDERS", strings.Join(c.Mail.Forwarders, ","))
	line("PORTAL_MAIL_REQUIRE_DMARC", c.Mail.RequireDMARC)
	line("PORTAL_SMTP_RELAY_TLS", c.Mail.RelayTLS)
	line("PORTAL_SMTP_RELAY_USER", c.Mail.RelayUser)
	line("PORTAL_SMTP_RELAY_PASSWORD", redact(c.Mail.RelayPassword))
	line("PORTAL_SMTP_RELAY_CA", c.Mail.RelayCA)
	line("PORTAL_SMTP_TLS_CERT", c.Mail.TLSCert)
	line("PORTAL_SMTP_TLS_KEY", c.Mail.TLSKey)
	line("PORTAL_DRILL_CLUSTER", c.Drills.Cluster)
	line("PORTAL_DRILL_CONCURRENCY", c.Drills.Concurrency)
	line("PORTAL_DRILL_EVERY", c.Drills.Every)
	line("PORTAL_DRILL_HEAP_CHECK", c.Drills.HeapCheck)
	line("PORTAL_OPS_ADDRESS", c.Drills.OpsAddress)
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// RedactURL hides the password of a connection URL, for logs and pages.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "[unparseable URL]"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	return u.String()
}

// Names lists every variable Load reads; the README table and compose.yaml are
// checked against it.
func Names() []string {
	var names []string
	env := map[string]string{}
	_, _ = Load(func(k string) string { names = append(names, k); return env[k] })
	return names
}

// s3 reads the S3 settings, for Load and LoadS3.
func (r *reader) s3() S3 {
	return S3{
		Endpoint:    r.str("PORTAL_S3_ENDPOINT", ""),
		Region:      r.str("PORTAL_S3_REGION", "us-east-1"),
		Bucket:      r.str("PORTAL_S3_BUCKET", ""),
		Prefix:      strings.Trim(r.str("PORTAL_S3_PREFIX", "snapshots"), "/"),
		AccessKey:   r.str("PORTAL_S3_ACCESS_KEY", ""),
		SecretKey:   r.str("PORTAL_S3_SECRET_KEY", ""),
		PathStyle:   r.boolean("PORTAL_S3_PATH_STYLE", true),
		RetryFor:    r.duration("PORTAL_S3_RETRY_FOR", 10*time.Minute),
		IdleTimeout: r.duration("PORTAL_S3_IDLE_TIMEOUT", time.Minute),
		IndexBucket: r.str("PORTAL_S3_INDEX_BUCKET", ""),
		IndexPrefix: strings.Trim(r.str("PORTAL_S3_INDEX_PREFIX", "snapshot-index"), "/"),
	}
}

// LoadS3 reads and checks only the S3 settings, for a command that reads
// dumps from S3 without the rest of the portal (worker apply): the bucket
// may be empty, as such a command names it itself.
func LoadS3(getenv func(string) string) (S3, error) {
	r := reader{getenv: getenv}
	s := r.s3()
	if r.err != nil {
		return S3{}, r.err
	}
	if err := s.validate(); err != nil {
		return S3{}, err
	}
	return s, nil
}

type reader struct {
	getenv func(string) string
	err    error
}

func (r *reader) str(k, def string) string {
	if v := strings.TrimSpace(r.getenv(k)); v != "" {
		return v
	}
	return def
}

func (r *reader) fail(k, msg string) {
	if r.err == nil {
		r.err = &Error{k, msg}
	}
}

// parsed reads k with parse: unset gives def; a value parse refuses fails
// the reader with the value and what was wanted ("is not a whole number").
func parsed[T any](r *reader, k string, def T, parse func(string) (T, error), want string) T {
	v := r.str(k, "")
	if v == "" {
		return def
	}
	x, err := parse(v)
	if err != nil {
		r.fail(k, fmt.Sprintf("%q %s", v, want))
	}
	return x
}

func (r *reader) boolean(k string, def bool) bool {
	return parsed(r, k, def, strconv.ParseBool, "is not true or false")
}

func (r *reader) integer(k string, def int) int {
	return parsed(r, k, def, strconv.Atoi, "is not a whole number")
}

func (r *reader) duration(k string, def time.Duration) time.Duration {
	return parsed(r, k, def, positiveDuration, "is not a positive duration such as 90s, 5m or 168h")
}

func positiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err == nil && d <= 0 {
		err = errors.New("not positive")
	}
	return d, err
}

func (r *reader) list(k, def string) []string {
	var out []string
	for _, p := range strings.Split(r.str(k, def), ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, strings.ToLower(p))
		}
	}
	return out
}

// Environ is os.Getenv, for main.
func Environ(k string) string { return os.Getenv(k) }
