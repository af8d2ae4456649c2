package web

import (
	"context"
	"errors"
	"time"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/web/templates"
)

// rollbackConfirmation fills what the rollback form says: whether a newer
// restore must be rolled back first, and what the rollback keeps aside and
// until when. A project cluster that cannot be read leaves the counts out
// and says why; it never fails the page.
func (s *Server) rollbackConfirmation(ctx context.Context, t tickets.Ticket, p *templates.TicketPage) error {
	if err := tickets.CheckRollbackOrder(ctx, s.Pool, t); err != nil {
		var ne *tickets.NewerRestoreError
		if !errors.As(err, &ne) {
			return err
		}
		p.RollbackOrder = ne.Error()
	}
	cl, cerr := s.projectCluster(ctx, t.ProjectRef)
	lines, err := tickets.RollbackPreview(ctx, s.Pool, cl, t, s.Config.Worker.KeepFor, time.Now())
	p.RollbackPreview = lines
	switch {
	case err != nil:
		p.RollbackPreviewError = err.Error()
	case cerr != nil && len(t.Result.KeptTables) > 0:
		p.RollbackPreviewError = cerr.Error()
	}
	return nil
}

// projectCluster is the cluster project ref is registered on (the default
// one when it names none); nil with the reason when it is not configured.
func (s *Server) projectCluster(ctx context.Context, ref string) (*cluster.Cluster, error) {
	name := cluster.Default
	if pr, err := snapshots.ProjectGet(ctx, s.Pool, ref); err == nil && pr.Cluster != "" {
		name = pr.Cluster
	} else if err != nil && !errors.Is(err, snapshots.ErrNotFound) {
		return nil, err
	}
	urls := s.Config.Clusters
	if urls == nil {
		urls = map[string]string{cluster.Default: s.Config.ProjectsAdminURL}
	}
	reg, err := cluster.NewRegistry(urls)
	if err != nil {
		return nil, err
	}
	return reg.Get(name)
}
