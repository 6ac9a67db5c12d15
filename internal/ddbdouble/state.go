package ddbdouble

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// tableInfo is what the double needs of a table's definition.
type tableInfo struct {
	name      string
	hash, rng string
	indexes   []indexInfo
}

// indexInfo is one global or local secondary index.
type indexInfo struct {
	name      string
	hash, rng string
	all       bool // projection ALL: an index entry is as large as its item
}

// table returns the definition of the table called name, asking DynamoDB
// Local once.
func (d *Double) table(req *http.Request, name string) (*tableInfo, error) {
	d.mu.Lock()
	t := d.tables[name]
	d.mu.Unlock()
	if t != nil {
		return t, nil
	}
	b, err := d.call(req, "DescribeTable", map[string]string{"TableName": name})
	if err != nil {
		return nil, err
	}
	type keyElem struct{ AttributeName, KeyType string }
	type index struct {
		IndexName  string
		KeySchema  []keyElem
		Projection struct{ ProjectionType string }
	}
	var desc struct {
		Table struct {
			KeySchema              []keyElem
			GlobalSecondaryIndexes []index
			LocalSecondaryIndexes  []index
		}
	}
	if err := json.Unmarshal(b, &desc); err != nil {
		return nil, err
	}
	keys := func(ks []keyElem) (hash, rng string) {
		for _, k := range ks {
			if k.KeyType == "HASH" {
				hash = k.AttributeName
			} else {
				rng = k.AttributeName
			}
		}
		return hash, rng
	}
	t = &tableInfo{name: name}
	t.hash, t.rng = keys(desc.Table.KeySchema)
	for _, ix := range append(desc.Table.GlobalSecondaryIndexes, desc.Table.LocalSecondaryIndexes...) {
		h, r := keys(ix.KeySchema)
		t.indexes = append(t.indexes, indexInfo{name: ix.IndexName, hash: h, rng: r, all: ix.Projection.ProjectionType == "ALL"})
	}
	d.mu.Lock()
	d.tables[name] = t
	d.mu.Unlock()
	return t, nil
}

// forgetTable drops what the double knows of a table (it is being deleted).
func (d *Double) forgetTable(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.tables, name)
	prefix := name + "\x00"
	for k := range d.shadow {
		if strings.HasPrefix(k, prefix) {
			delete(d.shadow, k)
		}
	}
	for k := range d.buckets {
		if strings.HasPrefix(k, prefix) {
			delete(d.buckets, k)
		}
	}
}

// itemKey returns the identity of the item whose key (or whole item) is it.
func (t *tableInfo) itemKey(it item) string {
	k := t.name + "\x00" + it[t.hash].canon()
	if t.rng != "" {
		k += "\x00" + it[t.rng].canon()
	}
	return k
}

// partition returns the budget key of the table partition of it.
func (t *tableInfo) partition(it item) string {
	return t.name + "\x00" + it[t.hash].canon()
}

// indexPartition returns the budget key of a partition of index ix.
func (t *tableInfo) indexPartition(ix, hash string) string {
	return t.name + "\x00" + ix + "\x00" + hash
}

// resource is the ARN a throttling reason names.
func (t *tableInfo) resource(index string) string {
	arn := "arn:aws:dynamodb:us-east-1:000000000000:table/" + t.name
	if index != "" {
		arn += "/index/" + index
	}
	return arn
}

// shadowItem is what the double knows of a stored item: whether it exists,
// its size, and the key of its entry in each index (hash "\x00" range;
// absent when the item is not in that index).
type shadowItem struct {
	exists bool
	size   int
	index  map[string]string
}

// shadowOf describes a full item of table t.
func (t *tableInfo) shadowOf(it item) shadowItem {
	s := shadowItem{exists: true, size: it.size()}
	for _, ix := range t.indexes {
		h, ok := it[ix.hash]
		if !ok {
			continue
		}
		k := h.canon()
		if ix.rng != "" {
			r, ok := it[ix.rng]
			if !ok {
				continue
			}
			k += "\x00" + r.canon()
		}
		if s.index == nil {
			s.index = map[string]string{}
		}
		s.index[ix.name] = k
	}
	return s
}

// indexHash returns the partition part of an index entry key.
func indexHash(entry string) string {
	if i := strings.IndexByte(entry, 0); i >= 0 {
		return entry[:i]
	}
	return entry
}

// learn records full items read from or written to table t; d.mu is held.
func (d *Double) learn(t *tableInfo, items []item) {
	for _, it := range items {
		d.shadow[t.itemKey(it)] = t.shadowOf(it)
	}
}

// known reports what the double knows of key; d.mu is held.
func (d *Double) known(key string) (shadowItem, bool) {
	s, ok := d.shadow[key]
	return s, ok
}

// readItems reads keys of table t from DynamoDB Local (strongly
// consistent) and records what it finds, and that the others do not exist.
func (d *Double) readItems(req *http.Request, t *tableInfo, keys []item) error {
	for start := 0; start < len(keys); start += 100 {
		chunk := keys[start:min(start+100, len(keys))]
		in := map[string]any{"RequestItems": map[string]any{t.name: map[string]any{"Keys": chunk, "ConsistentRead": true}}}
		pending := chunk
		for attempt := 0; len(pending) > 0 && attempt < 10; attempt++ {
			in["RequestItems"].(map[string]any)[t.name].(map[string]any)["Keys"] = pending
			b, err := d.call(req, "BatchGetItem", in)
			if err != nil {
				return err
			}
			var out struct {
				Responses       map[string][]item
				UnprocessedKeys map[string]struct{ Keys []item }
			}
			if err := json.Unmarshal(b, &out); err != nil {
				return err
			}
			found := map[string]bool{}
			d.mu.Lock()
			for _, it := range out.Responses[t.name] {
				k := t.itemKey(it)
				found[k] = true
				d.shadow[k] = t.shadowOf(it)
			}
			unprocessed := map[string]bool{}
			for _, k := range out.UnprocessedKeys[t.name].Keys {
				unprocessed[t.itemKey(k)] = true
			}
			for _, k := range pending {
				if ik := t.itemKey(k); !found[ik] && !unprocessed[ik] {
					d.shadow[ik] = shadowItem{}
				}
			}
			d.mu.Unlock()
			pending = out.UnprocessedKeys[t.name].Keys
		}
	}
	return nil
}

// bucket is the token bucket of one partition key's budget: it holds at
// most one second of units, refills at the budget's rate, and may go into
// debt by the cost of the request that empties it.
type bucket struct {
	tokens float64
	last   time.Time
}

// bucket returns the bucket of key with rate units per second; d.mu is
// held.
func (d *Double) bucket(key string, rate float64, now time.Time) *bucket {
	b, ok := d.buckets[key]
	if !ok {
		b = &bucket{tokens: rate, last: now}
		d.buckets[key] = b
	}
	b.tokens = min(rate, b.tokens+rate*now.Sub(b.last).Seconds())
	b.last = now
	return b
}

// exhausted reports whether the budget of key is used up; d.mu is held.
func (d *Double) exhausted(key string, rate float64, now time.Time) bool {
	return rate > 0 && d.bucket(key, rate, now).tokens <= 0
}

// charge takes units from the budget of key; d.mu is held.
func (d *Double) charge(key string, rate, units float64, now time.Time) {
	if rate > 0 && units > 0 {
		d.bucket(key, rate, now).tokens -= units
	}
}

// Budget keys of reads and writes are kept apart: a partition throttles
// reads and writes independently.
func writeKey(p string) string { return p + "\x00w" }
func readKey(p string) string  { return p + "\x00r" }
