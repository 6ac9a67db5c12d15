package dynamo

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/outdial/outdial/internal/outdial"
)

// Leases expire on their own (docs/design.md "Leases"). A claim registers
// the outdial under the minute in which its leases become expirable (lease
// end + grace): one small item per outdial, minute and process, written
// before the claim's transaction. ExpireLeases, run every minute by a
// schedule, reads the registrations of the minutes up to now, and for each
// outdial named records an expired attempt for every lease whose end plus
// grace has passed. Its cost grows with the outdials that have leases to
// look at and the leases expired, never with the number of targets, and
// no outcome pays for it.
//
// A registration is deleted only by a sweep that found nothing left to
// expire and started more than a minute after its minute was over: every
// lease registered under that minute was then expirable for over a
// minute, and its claim's transaction settled and in the index (a claim's
// function times out in 10 s). An outdial whose sweep fails is registered
// under the current minute again, so the cursor moves on.

// sweepPartitions is how many partitions one minute's registrations are
// spread over.
const sweepPartitions = 8

// sweepMaxMinutes bounds how many minutes one sweep reads (a sweep that
// catches up after an outage goes on in the next run): two hours, the
// longest lease (outdial.MaxLease) plus the longest grace.
const sweepMaxMinutes = 120

// sweepConcurrency bounds the outdials one sweep works on at once.
const sweepConcurrency = 8

func sweepPK(minute int64, outdialID string) string {
	h := fnv.New32a()
	h.Write([]byte(outdialID))
	return fmt.Sprintf("%s%d#%d", prefixSweep, minute, h.Sum32()%sweepPartitions)
}

func cursorKey() map[string]types.AttributeValue { return key("SWEEP", "#CURSOR") }

// minuteOf returns the Unix minute of t.
func minuteOf(t time.Time) int64 { return t.Unix() / 60 }

// registrations remembers the last minute this store registered each
// outdial under, so a busy claimer writes one registration per minute,
// and whether the store made sure the sweep cursor exists.
type registrations struct {
	mu     sync.Mutex
	last   map[string]int64
	cursor bool
}

func newRegistrations() *registrations { return &registrations{last: map[string]int64{}} }

// register makes sure outdialID is registered under the minute in which a
// lease ending at leaseUntil becomes expirable.
func (s *Store) register(ctx context.Context, outdialID string, leaseUntil time.Time) error {
	m := minuteOf(leaseUntil.Add(s.grace))
	s.sweeps.mu.Lock()
	done := s.sweeps.last[outdialID] == m
	s.sweeps.mu.Unlock()
	if done {
		return nil
	}
	if err := s.ensureCursor(ctx); err != nil {
		return err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table,
		Item:      map[string]types.AttributeValue{attrPK: avS(sweepPK(m, outdialID)), attrSK: avS(outdialID), "minute": avN(m)},
	}); err != nil {
		return classify("register leases", err)
	}
	s.sweeps.mu.Lock()
	defer s.sweeps.mu.Unlock()
	if len(s.sweeps.last) >= ownerCacheMax {
		clear(s.sweeps.last)
	}
	s.sweeps.last[outdialID] = m
	return nil
}

// ensureCursor creates the sweep cursor if there is none, at a minute
// before any registration this store writes, so that the sweep, which
// reads registrations from the cursor's minute on, finds them all. Once per
// store.
func (s *Store) ensureCursor(ctx context.Context) error {
	s.sweeps.mu.Lock()
	done := s.sweeps.cursor
	s.sweeps.mu.Unlock()
	if done {
		return nil
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table,
		Item: map[string]types.AttributeValue{
			attrPK: avS("SWEEP"), attrSK: avS("#CURSOR"), "minute": avN(minuteOf(s.now()) - 1),
		},
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	if err != nil && !isConditionFailed(err) {
		return classify("create the sweep cursor", err)
	}
	s.sweeps.mu.Lock()
	s.sweeps.cursor = true
	s.sweeps.mu.Unlock()
	return nil
}

// LeaseSweep reports what one ExpireLeases did.
type LeaseSweep struct {
	Minutes  int // minutes of registrations read
	Outdials int // outdials looked at
	Expired  int // leases recorded as expired
	Failed   int // outdials whose leases could not all be expired (tried again next run)
}

// ExpireLeases records an expired attempt for every lease whose end plus
// the grace has passed, in every outdial registered for a minute up to
// now. It is safe to run at any time; runs should not overlap (the
// template gives its function a concurrency of one).
func (s *Store) ExpireLeases(ctx context.Context) (LeaseSweep, error) {
	var rep LeaseSweep
	now := s.now().UTC()
	nowMin := minuteOf(now)
	// Without a cursor nothing was ever registered: every store creates
	// the cursor before its first registration (register).
	from := nowMin - 1
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: cursorKey(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return rep, classify("read the sweep cursor", err)
	}
	if v, ok := res.Item["minute"].(*types.AttributeValueMemberN); ok {
		if m, err := strconv.ParseInt(v.Value, 10, 64); err == nil {
			from = m
		}
	}
	to := min(nowMin, from+sweepMaxMinutes)
	rep.Minutes = int(to - from + 1)

	// The registrations of the minutes from..to, by outdial.
	byOutdial := map[string][]int64{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for m := from; m <= to; m++ {
		for h := 0; h < sweepPartitions; h++ {
			pk := fmt.Sprintf("%s%d#%d", prefixSweep, m, h)
			g.Go(func() error {
				in := &dynamodb.QueryInput{
					TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":pk": avS(pk)},
				}
				for {
					res, err := s.db.Query(gctx, in)
					if err != nil {
						return err
					}
					mu.Lock()
					for _, it := range res.Items {
						if sk, ok := it[attrSK].(*types.AttributeValueMemberS); ok {
							byOutdial[sk.Value] = append(byOutdial[sk.Value], m)
						}
					}
					mu.Unlock()
					if res.LastEvaluatedKey == nil {
						return nil
					}
					in.ExclusiveStartKey = res.LastEvaluatedKey
				}
			})
		}
	}
	if err := g.Wait(); err != nil {
		return rep, classify("read lease registrations", err)
	}

	// Each outdial; then its registrations of minutes that are over.
	rep.Outdials = len(byOutdial)
	oldest := to + 1 // the oldest minute with a registration left
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(sweepConcurrency)
	for outdialID, minutes := range byOutdial {
		g.Go(func() error {
			n, err := s.expireOutdial(gctx, outdialID, now)
			if err != nil {
				// Tried again next run: registered under this minute, so
				// that the old registrations can go and the cursor move on
				// (one outdial that keeps failing must not hold back the
				// others' minutes).
				if _, perr := s.db.PutItem(gctx, &dynamodb.PutItemInput{
					TableName: &s.table,
					Item:      map[string]types.AttributeValue{attrPK: avS(sweepPK(nowMin, outdialID)), attrSK: avS(outdialID), "minute": avN(nowMin)},
				}); perr == nil {
					err = nil
				}
				mu.Lock()
				rep.Failed++
				mu.Unlock()
			}
			var done []types.WriteRequest
			mu.Lock()
			rep.Expired += n
			for _, m := range minutes {
				// A minute's leases are all expirable once it is over;
				// one more minute lets the last claims' transactions
				// settle and the index catch up, whatever the grace.
				if err == nil && m < nowMin-1 {
					done = append(done, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: key(sweepPK(m, outdialID), outdialID)}})
				} else {
					oldest = min(oldest, m)
				}
			}
			mu.Unlock()
			for start := 0; start < len(done); start += 25 {
				if err := s.batchWrite(gctx, done[start:min(start+25, len(done))]); err != nil {
					mu.Lock()
					oldest = min(oldest, from) // read them again next time
					mu.Unlock()
				}
			}
			return nil
		})
	}
	_ = g.Wait()

	// Next time, start from the oldest minute that still has a
	// registration (or, when none is left, this minute).
	next := min(oldest, nowMin)
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table,
		Item:      map[string]types.AttributeValue{attrPK: avS("SWEEP"), attrSK: avS("#CURSOR"), "minute": avN(next)},
	}); err != nil {
		return rep, classify("write the sweep cursor", err)
	}
	return rep, nil
}

// expireOutdial records an expired attempt for every lease of outdialID
// whose end plus the grace is before now, and returns how many it
// recorded. It reads each shard's dialing partition of GSI1 (ordered by
// lease end) up to that time only.
func (s *Store) expireOutdial(ctx context.Context, outdialID string, now time.Time) (int, error) {
	cutoff := now.Add(-s.grace).UnixMilli()
	var (
		mu      sync.Mutex
		expired []outdial.Outcome
	)
	g, gctx := errgroup.WithContext(ctx)
	for k := 0; k < Shards; k++ {
		g.Go(func() error {
			in := &dynamodb.QueryInput{
				TableName: &s.table, IndexName: aws.String(indexGSI1),
				KeyConditionExpression: aws.String("GSI1PK = :pk AND GSI1SK <= :cut"),
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":pk": avS(statusPK(outdialID, k, outdial.StatusDialing)), ":cut": avN(cutoff),
				},
				ProjectionExpression: aws.String("id, attempt_id"),
			}
			for {
				res, err := s.db.Query(gctx, in)
				if err != nil {
					return err
				}
				var items []struct {
					ID        string `dynamodbav:"id"`
					AttemptID string `dynamodbav:"attempt_id"`
				}
				if err := attributevalue.UnmarshalListOfMaps(res.Items, &items); err != nil {
					return err
				}
				mu.Lock()
				for _, it := range items {
					if it.AttemptID != "" {
						expired = append(expired, outdial.Outcome{
							AttemptID: it.AttemptID, OutdialID: outdialID, TargetID: it.ID, Result: outdial.ResultExpired,
						})
					}
				}
				mu.Unlock()
				if res.LastEvaluatedKey == nil {
					return nil
				}
				in.ExclusiveStartKey = res.LastEvaluatedKey
			}
		})
	}
	if err := g.Wait(); err != nil {
		return 0, classify(fmt.Sprintf("find expired leases of outdial %s", outdialID), err)
	}
	n := 0
	var failed error
	for start := 0; start < len(expired); start += expireBatch {
		chunk := expired[start:min(start+expireBatch, len(expired))]
		for _, r := range s.ApplyOutcomes(ctx, chunk) {
			switch {
			case r.Err != nil:
				failed = errors.Join(failed, r.Err)
			case r.Effect == outdial.EffectApplied:
				n++
			}
		}
	}
	return n, failed
}

// expireBatch is how many expired leases one transaction records.
const expireBatch = 50
