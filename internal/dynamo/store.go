package dynamo

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/outdial/outdial/internal/outdial"
)

// API is the subset of the DynamoDB client the store uses. Tests wrap the
// real client in it to inject faults the engine cannot produce on demand.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// DefaultLeaseGrace is how long after its end a lease is expired by
// default: time for an outcome sent before the end to be applied.
const DefaultLeaseGrace = 60 * time.Second

// Store implements outdial.Store on one DynamoDB table. A Store is built
// once per process (per Lambda execution environment) and keeps a little
// state of that process: the count slots it owns (and so the shard its
// claims start from), the owners of the outdials it imported into, and the
// lease registrations it wrote.
type Store struct {
	db    API
	table string
	now   func() time.Time
	grace time.Duration // lease grace (ExpireLeases)

	slots   *slotPool
	recent  *recentClaims
	owners  *ownerCache
	sweeps  *registrations
	writeID string // this store's identity as a count-slot owner
}

var _ outdial.Store = (*Store)(nil)

// New returns a Store on table, using db for every call.
func New(db API, table string) *Store {
	s := &Store{
		db: db, table: table, now: time.Now, grace: DefaultLeaseGrace,
		slots: newSlotPool(), owners: newOwnerCache(), sweeps: newRegistrations(), recent: newRecentClaims(),
		writeID: newWriterID(),
	}
	return s
}

// WithClock returns a store like s that reads the time from now (tests).
// It is a new writer: it owns no count slots and has registered nothing.
func (s *Store) WithClock(now func() time.Time) *Store {
	c := New(s.db, s.table)
	c.now, c.grace = now, s.grace
	return c
}

// WithLeaseGrace returns a store like s whose leases are expired grace
// after their end (LEASE_GRACE_SECONDS of the functions).
func (s *Store) WithLeaseGrace(grace time.Duration) *Store {
	c := New(s.db, s.table)
	c.now, c.grace = s.now, grace
	return c
}

// LeaseGrace returns how long after its end a lease is expired.
func (s *Store) LeaseGrace() time.Duration { return s.grace }

// ownerCache remembers who owns the outdials this store imported into, and
// their id keys: neither ever changes, so an import pays for the head's
// read once per process. That the outdial still exists is checked by every import
// transaction itself (its count slot exists only while the outdial does).
type ownerCache struct {
	mu     sync.Mutex
	owners map[string]ownerEntry // by outdial id
}

type ownerEntry struct {
	customerID string
	idKey      []byte
}

// ownerCacheMax bounds the cache; when full it starts over.
const ownerCacheMax = 4096

func newOwnerCache() *ownerCache { return &ownerCache{owners: map[string]ownerEntry{}} }

func (c *ownerCache) get(outdialID string) (ownerEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.owners[outdialID]
	return o, ok
}

func (c *ownerCache) put(outdialID string, o ownerEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.owners) >= ownerCacheMax {
		clear(c.owners)
	}
	c.owners[outdialID] = o
}

func (c *ownerCache) forget(outdialID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.owners, outdialID)
}
