// Package leases is the scheduled function that expires the leases of
// dialers that went away (dynamo.Store.ExpireLeases): every minute,
// without any claim, a claimed target whose outcome never came back is
// made due again with an "expired" attempt once its lease end plus the
// grace has passed.
package leases

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/outdial/outdial/internal/dynamo"
)

// Expirer is the part of the store the sweeper needs.
type Expirer interface {
	ExpireLeases(ctx context.Context) (dynamo.LeaseSweep, error)
}

// Sweeper is the handler of the schedule's invocations.
type Sweeper struct {
	Store Expirer
	Log   *slog.Logger
}

// Handle runs one sweep. The schedule's event carries nothing the sweep
// needs. An error fails the invocation (the scheduler's retry policy and
// the next minute's run both pick up what is left); the report is also
// the invocation's result.
func (s *Sweeper) Handle(ctx context.Context, _ json.RawMessage) (dynamo.LeaseSweep, error) {
	rep, err := s.Store.ExpireLeases(ctx)
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	if err != nil {
		log.ErrorContext(ctx, "lease sweep failed", "err", err, "outdials", rep.Outdials, "expired", rep.Expired)
		return rep, err
	}
	level := slog.LevelDebug
	if rep.Expired > 0 || rep.Failed > 0 {
		level = slog.LevelInfo
	}
	log.Log(ctx, level, "lease sweep", "minutes", rep.Minutes, "outdials", rep.Outdials, "expired", rep.Expired, "failed", rep.Failed)
	return rep, nil
}
