package compare

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/restoreportal/portal/internal/cluster"
)

// Limit narrows the snapshot's side of a comparison to the rows an undelete
// would consider (cluster.MergeTable's Keys or Filter, the same rules):
// listed values of a one-column primary key, or "column operator value" with
// an operator of cluster.MergeOps. The column must be a stored column of the
// table (it is quoted); the value becomes a literal quoted by the server
// (quote_literal: COPY takes no parameters), cast to the column's type. The
// live side is read whole (a filter names snapshot rows; their keys may hold
// anything live), except with listed keys, which mean the same rows on both
// sides.
type Limit struct {
	Keys              []string
	Column, Op, Value string
}

// String words the limit for people ("3 listed keys", "status = 'gone'").
func (l Limit) String() string {
	if len(l.Keys) > 0 {
		return fmt.Sprintf("%d listed key(s)", len(l.Keys))
	}
	s := "rows where " + l.Column + " " + cluster.MergeOps[l.Op]
	if l.Op != "is_null" && l.Op != "not_null" {
		s += " " + fmt.Sprintf("%q", l.Value)
	}
	return s
}

// where is the condition (on alias r) the limit makes on the snapshot's
// table described by si, whose primary key is key.
func (l Limit) where(ctx context.Context, conn *pgx.Conn, si tableInfo, key []string, table string) (string, error) {
	switch {
	case len(l.Keys) > 0 && l.Op != "":
		return "", fmt.Errorf("%s: an undelete is limited by keys or by a filter, not both", table)
	case len(l.Keys) > 0:
		if len(key) != 1 {
			return "", fmt.Errorf("%s: listed keys need a one-column primary key; this one has %d columns (use a filter)", table, len(key))
		}
		i := slices.IndexFunc(si.cols, func(c column) bool { return c.name == key[0] })
		if i < 0 {
			return "", fmt.Errorf("%s: no key column %q", table, key[0])
		}
		var lit string
		if err := conn.QueryRow(ctx, `SELECT quote_literal($1::text[]::text)`, l.Keys).Scan(&lit); err != nil {
			return "", fmt.Errorf("quote the listed keys: %w", err)
		}
		return "r." + pgx.Identifier{key[0]}.Sanitize() + " = ANY (CAST(CAST(" + lit + " AS text[]) AS " + si.cols[i].typ + "[]))", nil
	case l.Op == "":
		return "", errors.New("an empty limit")
	}
	i := slices.IndexFunc(si.cols, func(c column) bool { return c.name == l.Column })
	if i < 0 {
		return "", fmt.Errorf("%s has no column %q: the filter is refused, nothing was changed", table, l.Column)
	}
	c := si.cols[i]
	if c.generated {
		return "", fmt.Errorf("%s: column %q is generated; filter on a stored column", table, l.Column)
	}
	op, ok := cluster.MergeOps[l.Op]
	if !ok {
		return "", fmt.Errorf("filter operator %q is not one of the offered ones", l.Op)
	}
	col := "r." + pgx.Identifier{c.name}.Sanitize()
	switch l.Op {
	case "is_null", "not_null":
		return col + " " + op, nil
	}
	var lit string
	if err := conn.QueryRow(ctx, `SELECT quote_literal($1::text)`, l.Value).Scan(&lit); err != nil {
		return "", fmt.Errorf("quote the filter's value: %w", err)
	}
	if l.Op == "like" {
		return col + "::text LIKE " + lit + "::text", nil
	}
	return col + " " + op + " CAST(" + lit + "::text AS " + c.typ + ")", nil
}

// RowSecurityError refuses to compare a table whose row-level security
// policies apply to the comparing role (its owner, under FORCE ROW LEVEL
// SECURITY): that role would see only the rows the policies let it, and a
// comparison of filtered views would report rows as missing or equal
// wrongly.
type RowSecurityError struct {
	Table string
	Err   error
}

func (e *RowSecurityError) Error() string {
	return fmt.Sprintf("table %s has row-level security that applies to its owner (FORCE ROW LEVEL SECURITY), so the owner sees only the rows its policies allow: "+
		"the comparison was refused rather than compare filtered rows, and nothing was changed. Run ALTER TABLE %s NO FORCE ROW LEVEL SECURITY on live, "+
		"or restore without the staged review (%v)", e.Table, e.Table, e.Err)
}

func (e *RowSecurityError) Unwrap() error { return e.Err }

// rowSecurityOff sets row_security off in conn's session (Postgres then
// raises 42501 where a policy would filter rows, instead of filtering them)
// and returns the function that sets it back.
func rowSecurityOff(ctx context.Context, conn *pgx.Conn) (func(), error) {
	var was string
	if err := conn.QueryRow(ctx, `SELECT current_setting('row_security'), set_config('row_security', 'off', false)`).Scan(&was, new(string)); err != nil {
		return nil, fmt.Errorf("set row_security off for the comparison: %w", err)
	}
	return func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT set_config('row_security', $1, false)`, was)
	}, nil
}

// rowSecurity turns Postgres's refusal under row_security = off into a
// RowSecurityError.
func rowSecurity(table string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" && strings.Contains(pe.Message, "row-level security") {
		return &RowSecurityError{Table: table, Err: err}
	}
	return err
}
