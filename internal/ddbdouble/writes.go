package ddbdouble

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// writeAct is one item a write touches.
type writeAct struct {
	kind   string // Put, Update, Delete, ConditionCheck
	t      *tableInfo
	key    string // item identity
	keyIt  item   // its key attributes
	put    item   // the item of a Put
	before shadowItem
}

// newAct resolves one action's table and item key.
func (d *Double) newAct(req *http.Request, kind, table string, it, key item) (writeAct, error) {
	t, err := d.table(req, table)
	if err != nil {
		return writeAct{}, err
	}
	a := writeAct{kind: kind, t: t, put: it, keyIt: key}
	if kind == "Put" {
		a.keyIt = item{t.hash: it[t.hash]}
		if t.rng != "" {
			a.keyIt[t.rng] = it[t.rng]
		}
	}
	a.key = t.itemKey(a.keyIt)
	return a, nil
}

// loadBefore makes sure the double knows the stored state of every item
// the acts update, delete or check (reading the unknown ones from DynamoDB
// Local), and records it in the acts. A Put of an unknown item counts as
// the first write of it.
func (d *Double) loadBefore(req *http.Request, acts []writeAct) error {
	unknown := map[*tableInfo][]item{}
	d.mu.Lock()
	for _, a := range acts {
		if _, ok := d.known(a.key); !ok && a.kind != "Put" {
			unknown[a.t] = append(unknown[a.t], a.keyIt)
		}
	}
	d.mu.Unlock()
	for t, keys := range unknown {
		if err := d.readItems(req, t, keys); err != nil {
			return err
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range acts {
		acts[i].before = d.shadow[acts[i].key]
	}
	return nil
}

// throttled returns, per act, the throttling reason of the partition (of
// the table or of an index entry the act writes) whose budget is used up,
// or "". d.mu is held.
func (d *Double) throttled(acts []writeAct, now time.Time) []throttlingReason {
	rate := d.cfg.WriteUnitsPerKey
	out := make([]throttlingReason, len(acts))
	for i, a := range acts {
		if d.exhausted(writeKey(a.t.partition(a.keyIt)), rate, now) {
			out[i] = throttlingReason{"TableWriteKeyRangeThroughputExceeded", a.t.resource("")}
			continue
		}
		entries := a.before.index
		if a.put != nil {
			entries = a.t.shadowOf(a.put).index
		}
		for ix, e := range entries {
			if d.exhausted(writeKey(a.t.indexPartition(ix, indexHash(e))), rate, now) {
				out[i] = throttlingReason{"IndexWriteKeyRangeThroughputExceeded", a.t.resource(ix)}
				break
			}
		}
	}
	return out
}

// refusedUnits is what a write that was refused or cancelled is charged:
// its items' table write units at their known sizes.
func refusedUnits(acts []writeAct, mult float64) float64 {
	u := 0.0
	for _, a := range acts {
		size := a.before.size
		if a.put != nil {
			size = max(size, a.put.size())
		}
		u += mult * kb(size)
	}
	return u
}

// settle records what the acts wrote: the new state of each item (reading
// back updated ones), their write units, and the budgets they used. mult
// is 2 in a transaction, 1 outside.
func (d *Double) settle(req *http.Request, tag string, acts []writeAct, mult float64) {
	updated := map[*tableInfo][]item{}
	for _, a := range acts {
		if a.kind == "Update" {
			updated[a.t] = append(updated[a.t], a.keyIt)
		}
	}
	for t, keys := range updated {
		_ = d.readItems(req, t, keys) // best effort: sizes only
	}
	now := time.Now()
	rate := d.cfg.WriteUnitsPerKey
	d.mu.Lock()
	defer d.mu.Unlock()
	var table, index float64
	for _, a := range acts {
		var after shadowItem
		switch a.kind {
		case "Put":
			after = a.t.shadowOf(a.put)
			d.shadow[a.key] = after
		case "Update":
			after = d.shadow[a.key]
		case "Delete":
			d.shadow[a.key] = shadowItem{}
		case "ConditionCheck":
			after = a.before
		}
		u := mult * kb(max(a.before.size, after.size))
		table += u
		d.charge(writeKey(a.t.partition(a.keyIt)), rate, u, now)
		if a.kind == "ConditionCheck" {
			continue
		}
		for _, ix := range a.t.indexes {
			b, a2 := a.before.index[ix.name], after.index[ix.name]
			var parts []struct {
				entry string
				units float64
			}
			switch {
			case b == "" && a2 == "":
			case b == a2 && !ix.all:
				// Keys-only or included attributes: assume the projected
				// attributes did not change.
			case b == a2:
				parts = append(parts, struct {
					entry string
					units float64
				}{a2, kb(after.size)})
			default:
				if b != "" {
					parts = append(parts, struct {
						entry string
						units float64
					}{b, kb(a.before.size)})
				}
				if a2 != "" {
					parts = append(parts, struct {
						entry string
						units float64
					}{a2, kb(after.size)})
				}
			}
			for _, p := range parts {
				index += p.units
				d.charge(writeKey(a.t.indexPartition(ix.name, indexHash(p.entry))), rate, p.units, now)
			}
		}
	}
	d.record(tag, func(s *Stats) {
		s.WriteUnits += table + index
		s.IndexWriteUnits += index
	})
}

// transactWrite serves a TransactWriteItems.
func (d *Double) transactWrite(req *http.Request, tag string, body []byte) (*http.Response, error) {
	d.recordLocked(tag, func(s *Stats) { s.Transactions++ })
	var tw transactWrite
	if err := json.Unmarshal(body, &tw); err != nil {
		resp, _, err := d.forward(req, body)
		return resp, err
	}
	acts := make([]writeAct, 0, len(tw.TransactItems))
	for _, ti := range tw.TransactItems {
		kind, a := ti.action()
		if a == nil {
			resp, _, err := d.forward(req, body)
			return resp, err
		}
		act, err := d.newAct(req, kind, a.TableName, a.Item, a.Key)
		if err != nil {
			return nil, err
		}
		acts = append(acts, act)
	}
	if err := d.loadBefore(req, acts); err != nil {
		return nil, err
	}
	ctx := req.Context()
	latency := d.cfg.TransactionLatency + time.Duration(len(acts))*d.cfg.ActionLatency
	owner := tw.ClientRequestToken
	if owner == "" {
		owner = "\x00" + strconv.FormatInt(d.seq.Add(1), 10)
	}

	// Conflicts, a resend of a transaction in flight, throttling; then hold
	// the items.
	now := time.Now()
	d.mu.Lock()
	reasons := make([]cancellationReason, len(acts))
	conflict, inProgress := false, false
	for i, a := range acts {
		reasons[i] = cancellationReason{Code: reasonNone}
		h, held := d.held[a.key]
		switch {
		case !held:
		case h == owner:
			inProgress = true
		case !d.cfg.NoConflicts:
			reasons[i] = cancellationReason{Code: reasonConflict, Message: msgConflict}
			conflict = true
		}
	}
	throttled := false
	if !conflict && !inProgress {
		for i, r := range d.throttled(acts, now) {
			if r.Reason != "" {
				reasons[i] = cancellationReason{Code: reasonThrottling, Message: msgThrottling}
				throttled = true
			}
		}
	}
	if !conflict && !inProgress && !throttled {
		for _, a := range acts {
			d.held[a.key] = owner
		}
	}
	d.mu.Unlock()

	if inProgress {
		d.recordLocked(tag, func(s *Stats) { s.InProgress++ })
		if err := sleep(ctx, d.cfg.TransactionLatency); err != nil {
			return nil, err
		}
		return d.response(req, http.StatusBadRequest, simpleError("TransactionInProgressException", msgInProgress)), nil
	}
	if conflict || throttled {
		units := refusedUnits(acts, 2)
		d.recordLocked(tag, func(s *Stats) {
			if conflict {
				s.TransactionConflicts++
			} else {
				s.Throttled++
			}
			s.WriteUnits += units
		})
		if err := sleep(ctx, d.cfg.TransactionLatency); err != nil {
			return nil, err
		}
		return d.response(req, http.StatusBadRequest, cancelled(reasons)), nil
	}

	// In flight: the items are held for the transaction's latency.
	err := sleep(ctx, latency)
	d.mu.Lock()
	for _, a := range acts {
		if d.held[a.key] == owner {
			delete(d.held, a.key)
		}
	}
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	resp, respBody, err := d.forward(req, body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		d.recordLocked(tag, func(s *Stats) { s.TransactionsApplied++ })
		d.settle(req, tag, acts, 2)
		return resp, nil
	}
	if errorType(respBody) == "TransactionCanceledException" {
		units := refusedUnits(acts, 2)
		d.recordLocked(tag, func(s *Stats) { s.ConditionFailures++; s.WriteUnits += units })
	}
	return resp, nil
}

// singleWrite serves a PutItem, UpdateItem or DeleteItem.
func (d *Double) singleWrite(req *http.Request, tag, op string, body []byte) (*http.Response, error) {
	d.recordLocked(tag, func(s *Stats) { s.SingleWrites++ })
	var r singleRequest
	if err := json.Unmarshal(body, &r); err != nil {
		resp, _, err := d.forward(req, body)
		return resp, err
	}
	kind := map[string]string{"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete"}[op]
	a, err := d.newAct(req, kind, r.TableName, r.Item, r.Key)
	if err != nil {
		return nil, err
	}
	acts := []writeAct{a}
	if err := d.loadBefore(req, acts); err != nil {
		return nil, err
	}
	now := time.Now()
	d.mu.Lock()
	_, held := d.held[a.key]
	conflict := held && !d.cfg.NoConflicts
	var reason throttlingReason
	if !conflict {
		reason = d.throttled(acts, now)[0]
	}
	d.mu.Unlock()
	if err := sleep(req.Context(), d.cfg.RequestLatency); err != nil {
		return nil, err
	}
	switch {
	case conflict:
		units := refusedUnits(acts, 1)
		d.recordLocked(tag, func(s *Stats) { s.WriteConflicts++; s.WriteUnits += units })
		return d.response(req, http.StatusBadRequest, simpleError("TransactionConflictException", msgConflictSingle)), nil
	case reason.Reason != "":
		units := refusedUnits(acts, 1)
		d.recordLocked(tag, func(s *Stats) { s.Throttled++; s.WriteUnits += units })
		return d.response(req, http.StatusBadRequest, throughputExceeded([]throttlingReason{reason})), nil
	}
	resp, respBody, err := d.forward(req, body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		d.settle(req, tag, acts, 1)
		return resp, nil
	}
	if errorType(respBody) == "ConditionalCheckFailedException" {
		units := refusedUnits(acts, 1)
		d.recordLocked(tag, func(s *Stats) { s.ConditionFailures++; s.WriteUnits += units })
	}
	return resp, nil
}

// batchWrite serves a BatchWriteItem: throttled as a whole when any of its
// partitions is out of budget (DynamoDB would return only those items as
// unprocessed); item locks are not checked.
func (d *Double) batchWrite(req *http.Request, tag string, body []byte) (*http.Response, error) {
	var bw batchWrite
	if err := json.Unmarshal(body, &bw); err != nil {
		resp, _, err := d.forward(req, body)
		return resp, err
	}
	var acts []writeAct
	for table, reqs := range bw.RequestItems {
		for _, r := range reqs {
			var a writeAct
			var err error
			switch {
			case r.PutRequest != nil:
				a, err = d.newAct(req, "Put", table, r.PutRequest.Item, nil)
			case r.DeleteRequest != nil:
				a, err = d.newAct(req, "Delete", table, nil, r.DeleteRequest.Key)
			default:
				continue
			}
			if err != nil {
				return nil, err
			}
			acts = append(acts, a)
		}
	}
	// Deletes of unknown items are charged as 1 KB: no read-back for them.
	d.mu.Lock()
	for i := range acts {
		acts[i].before = d.shadow[acts[i].key]
	}
	var reason throttlingReason
	for _, r := range d.throttled(acts, time.Now()) {
		if r.Reason != "" {
			reason = r
			break
		}
	}
	d.mu.Unlock()
	if err := sleep(req.Context(), d.cfg.RequestLatency); err != nil {
		return nil, err
	}
	if reason.Reason != "" {
		units := refusedUnits(acts, 1)
		d.recordLocked(tag, func(s *Stats) { s.Throttled++; s.WriteUnits += units })
		return d.response(req, http.StatusBadRequest, throughputExceeded([]throttlingReason{reason})), nil
	}
	resp, _, err := d.forward(req, body)
	if err == nil && resp.StatusCode == http.StatusOK {
		d.settle(req, tag, acts, 1)
	}
	return resp, err
}
