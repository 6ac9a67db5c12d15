package dynamo_test

import (
	"encoding/json"
	"maps"
	"strings"
	"sync"

	"github.com/outdial/outdial/internal/ddbdouble"
)

// requestCounter is a DynamoDB double that only counts
// (ddbdouble.Config{NoConflicts: true}: no latency, locks or budgets): the
// requests sent through it by operation (its Stats), and the queries by the
// kind of partition they read ("Query:dialing" for GSI1's dialing
// partitions, "Query:idle", "Query:SWEEP" for lease registrations), and
// the puts of count slots ("PutItem:slot", a writer making one). Give
// the store a client through it: dialOptions.double, or dynamotest.Through.
type requestCounter struct {
	*ddbdouble.Double
	mu      sync.Mutex
	queries map[string]int
}

func newRequestCounter() *requestCounter {
	c := &requestCounter{queries: map[string]int{}}
	c.Double = ddbdouble.New(nil, ddbdouble.Config{NoConflicts: true, Observe: c.observe})
	return c
}

// observe counts a query by the partition its :pk names, and a put of a
// count slot.
func (c *requestCounter) observe(op string, body []byte) {
	if op == "PutItem" {
		var p struct{ Item map[string]struct{ S string } }
		_ = json.Unmarshal(body, &p)
		if strings.HasPrefix(p.Item["SK"].S, "#C#") {
			c.mu.Lock()
			c.queries["PutItem:slot"]++
			c.mu.Unlock()
		}
		return
	}
	if op != "Query" {
		return
	}
	var q struct {
		ExpressionAttributeValues map[string]struct{ S string }
	}
	_ = json.Unmarshal(body, &q)
	pk := q.ExpressionAttributeValues[":pk"].S
	kind := ""
	switch {
	case strings.HasSuffix(pk, "#dialing"):
		kind = "dialing"
	case strings.HasSuffix(pk, "#idle"):
		kind = "idle"
	case strings.HasPrefix(pk, "SWEEP#"):
		kind = "SWEEP"
	default:
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queries["Query:"+kind]++
}

// count returns how many requests of op were sent.
func (c *requestCounter) count(op string) int { return c.snapshot()[op] }

// total returns how many requests were sent.
func (c *requestCounter) total() int { return c.Stats("").Total() }

// snapshot returns the counts so far: requests by operation, and queries
// by kind of partition.
func (c *requestCounter) snapshot() map[string]int {
	m := c.Stats("").Requests
	c.mu.Lock()
	defer c.mu.Unlock()
	maps.Copy(m, c.queries)
	return m
}

// since returns the counts added after before was taken (the ones that
// did not change left out).
func (c *requestCounter) since(before map[string]int) map[string]int {
	now := c.snapshot()
	for k, v := range before {
		if now[k] -= v; now[k] == 0 {
			delete(now, k)
		}
	}
	return now
}
