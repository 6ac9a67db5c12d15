package dynamo

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/outdial/outdial/internal/outdial"
)

// Claim windows: a claim takes its own shard's due targets first, the
// targets of shards no other claimer serves next, and another claimer's
// shard only when that one's oldest due target has waited starveWindow
// longer than the claim's own oldest (its claimer may be slow or gone).
const (
	fairWindow   = 10 * time.Second // due within the same window: as old
	starveWindow = 30 * time.Second
	lanesFor     = 30 * time.Second // how long a claimer trusts what it read of the others' shards
)

// dueCandidates returns the due idle targets a claim starting from shard
// start may take, in order. It reads in two steps: up to twice limit from
// shard start and the oldest one of every other shard; then up to limit
// from each other shard it may take from (above) whose oldest is needed:
// start has fewer than limit due, or that oldest has waited fairWindow
// longer than start's. The order is oldest first by fairWindow, and within
// a window shard by shard from start on (start's own targets first).
// Claimers of different processes own different starts (claimSlots) and
// do not take from each other's shards, so they do not race.
func (s *Store) dueCandidates(ctx context.Context, outdialID string, now time.Time, limit, start int) ([]candidate, error) {
	limit = max(1, limit)
	read := make([][]targetItem, Shards)
	query := func(ctx context.Context, k, n int) error {
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName: &s.table, IndexName: aws.String(indexGSI1),
			KeyConditionExpression: aws.String("GSI1PK = :pk AND GSI1SK <= :now"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": avS(statusPK(outdialID, k, outdial.StatusIdle)), ":now": avN(now.UnixMilli()),
			},
			Limit: aws.Int32(int32(n)),
		})
		if err != nil {
			return err
		}
		var got []targetItem
		if err := attributevalue.UnmarshalListOfMaps(res.Items, &got); err != nil {
			return err
		}
		var fresh []targetItem
		for _, it := range got {
			if !s.recent.seen(it, now) { // claimed a moment ago; the index has not caught up
				fresh = append(fresh, it)
			}
		}
		read[k] = fresh // one goroutine per shard
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	for k := 0; k < Shards; k++ {
		n := 1
		if k == start {
			// Deeper than limit: the first due targets may be ones this
			// store claimed a moment ago, still in the index.
			n = 2 * limit
		}
		g.Go(func() error { return query(gctx, k, n) })
	}
	if err := g.Wait(); err != nil {
		return nil, classify("find due targets", err)
	}
	served, _ := s.slots.claimLanes(outdialID, now)
	own := read[start]
	oldest := now.UnixMilli() // start's oldest due
	if len(own) > 0 {
		oldest = own[0].GSI1SK
	}
	var more []int
	for k := 0; k < Shards; k++ {
		if k == start || len(read[k]) == 0 {
			continue
		}
		head := read[k][0].GSI1SK
		if served[k] && head >= oldest-starveWindow.Milliseconds() {
			read[k] = nil // another claimer's shard
			continue
		}
		if len(own) < limit || head < oldest-fairWindow.Milliseconds() {
			more = append(more, k)
		}
	}
	g, gctx = errgroup.WithContext(ctx)
	for _, k := range more {
		g.Go(func() error { return query(gctx, k, limit) })
	}
	if err := g.Wait(); err != nil {
		return nil, classify("find due targets", err)
	}
	return candidatesOf(read, start), nil
}

// candidatesOf orders the targets read: oldest due first, by fairWindow,
// and within a window shard by shard from shard start on, then by due time
// and id.
func candidatesOf(read [][]targetItem, start int) []candidate {
	var out []candidate
	for _, items := range read {
		for _, it := range items {
			if plan, ok := outdial.PlanFor(it.destinations(), it.DestIdx); ok {
				out = append(out, candidate{item: it, plan: plan, shard: ShardOf(it.ID)})
			}
		}
	}
	sortCandidates(out, start)
	return out
}

// sortCandidates orders cands oldest due first, by fairWindow, and within
// a window shard by shard from shard start on, then by due time and id.
func sortCandidates(out []candidate, start int) {
	window := fairWindow.Milliseconds()
	sort.Slice(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if wa, wb := a.item.GSI1SK/window, b.item.GSI1SK/window; wa != wb {
			return wa < wb
		}
		if oa, ob := (a.shard-start+Shards)%Shards, (b.shard-start+Shards)%Shards; oa != ob {
			return oa < ob
		}
		if a.item.GSI1SK != b.item.GSI1SK {
			return a.item.GSI1SK < b.item.GSI1SK
		}
		return a.item.ID < b.item.ID
	})
}

// spreadCandidates orders cands as candidatesOf does, from shard start.
func spreadCandidates(cands []candidate, start int) []candidate {
	out := append([]candidate(nil), cands...)
	sortCandidates(out, start)
	return out
}

// recentClaims remembers, for a few seconds, the targets this store just
// claimed or found changed, as they were (id and tries): GSI1 is
// eventually consistent, and the next claim would otherwise read them
// again as due and lose a round trip on each. A target due again after an
// outcome has one try more, and is not skipped.
type recentClaims struct {
	mu  sync.Mutex
	ids map[string]time.Time
}

// recentFor is how long a target is skipped after a claim.
const recentFor = 5 * time.Second

// recentMax bounds the memory; when full, the entries past recentFor go.
const recentMax = 20000

func newRecentClaims() *recentClaims { return &recentClaims{ids: map[string]time.Time{}} }

func recentKey(it targetItem) string { return fmt.Sprintf("%s/%d", it.ID, it.TryCur) }

func (r *recentClaims) note(it targetItem, now time.Time) {
	id := recentKey(it)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ids) >= recentMax {
		for k, t := range r.ids {
			if now.Sub(t) > recentFor {
				delete(r.ids, k)
			}
		}
		if len(r.ids) >= recentMax {
			clear(r.ids)
		}
	}
	r.ids[id] = now
}

func (r *recentClaims) seen(it targetItem, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.ids[recentKey(it)]
	return ok && now.Sub(t) < recentFor
}
