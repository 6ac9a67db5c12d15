package ddbdouble

import (
	"encoding/json"
	"net/http"
	"time"
)

// read serves a GetItem, Query or BatchGetItem: throttled when a partition
// it reads is out of budget (a BatchGetItem as a whole, where DynamoDB would
// return the throttled keys as unprocessed), otherwise forwarded after the
// request latency. Its read units are the ones DynamoDB Local reports
// (asked for with ReturnConsumedCapacity, which is removed again from the
// answer when the caller did not ask for it).
func (d *Double) read(req *http.Request, tag, op string, body []byte) (*http.Response, error) {
	var raw map[string]json.RawMessage
	var r singleRequest
	if json.Unmarshal(body, &raw) != nil || json.Unmarshal(body, &r) != nil {
		resp, _, err := d.forward(req, body)
		return resp, err
	}
	injected := false
	if v, ok := raw["ReturnConsumedCapacity"]; !ok || string(v) == `"NONE"` {
		raw["ReturnConsumedCapacity"] = json.RawMessage(`"TOTAL"`)
		injected = true
		body, _ = json.Marshal(raw)
	}

	// The partitions the request reads, and what it learns items of.
	type tableItems struct {
		t     *tableInfo
		learn bool
	}
	var parts []string
	var reason throttlingReason
	learnFrom := map[string]tableItems{}
	full := r.ProjectionExpression == "" && (r.Select == "" || r.Select == "ALL_ATTRIBUTES")
	switch op {
	case "GetItem", "Query":
		t, err := d.table(req, r.TableName)
		if err != nil {
			return nil, err
		}
		learnFrom[r.TableName] = tableItems{t, full}
		switch {
		case op == "GetItem":
			parts = append(parts, t.partition(r.Key))
			reason = throttlingReason{"TableReadKeyRangeThroughputExceeded", t.resource("")}
		case r.IndexName == "":
			parts = append(parts, t.name+"\x00"+r.queryPartition(t.hash))
			reason = throttlingReason{"TableReadKeyRangeThroughputExceeded", t.resource("")}
		default:
			for _, ix := range t.indexes {
				if ix.name == r.IndexName {
					parts = append(parts, t.indexPartition(ix.name, r.queryPartition(ix.hash)))
					learnFrom[r.TableName] = tableItems{t, full && ix.all}
				}
			}
			reason = throttlingReason{"IndexReadKeyRangeThroughputExceeded", t.resource(r.IndexName)}
		}
	case "BatchGetItem":
		var bg batchGet
		_ = json.Unmarshal(body, &bg)
		for name, ka := range bg.RequestItems {
			t, err := d.table(req, name)
			if err != nil {
				return nil, err
			}
			learnFrom[name] = tableItems{t, ka.ProjectionExpression == ""}
			for _, k := range ka.Keys {
				parts = append(parts, t.partition(k))
			}
			reason = throttlingReason{"TableReadKeyRangeThroughputExceeded", t.resource("")}
		}
	}

	rate := d.cfg.ReadUnitsPerKey
	d.mu.Lock()
	throttled := false
	now := time.Now()
	for _, p := range parts {
		if d.exhausted(readKey(p), rate, now) {
			throttled = true
			break
		}
	}
	d.mu.Unlock()
	if err := sleep(req.Context(), d.cfg.RequestLatency); err != nil {
		return nil, err
	}
	if throttled {
		d.recordLocked(tag, func(s *Stats) { s.Throttled++ })
		return d.response(req, http.StatusBadRequest, throughputExceeded([]throttlingReason{reason})), nil
	}
	resp, respBody, err := d.forward(req, body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}

	var out struct {
		Item             item
		Items            []item
		Responses        map[string][]item
		ConsumedCapacity json.RawMessage
	}
	_ = json.Unmarshal(respBody, &out)
	units := consumedUnits(out.ConsumedCapacity)
	d.mu.Lock()
	for name, ti := range learnFrom {
		if !ti.learn {
			continue
		}
		if out.Item != nil {
			d.learn(ti.t, []item{out.Item})
		}
		d.learn(ti.t, out.Items)
		d.learn(ti.t, out.Responses[name])
	}
	for _, p := range parts {
		d.charge(readKey(p), rate, units/float64(len(parts)), now)
	}
	d.record(tag, func(s *Stats) { s.ReadUnits += units })
	d.mu.Unlock()

	if injected {
		var m map[string]json.RawMessage
		if json.Unmarshal(respBody, &m) == nil {
			delete(m, "ConsumedCapacity")
			b, _ := json.Marshal(m)
			replaceBody(resp, b)
		}
	}
	return resp, nil
}

// consumedUnits sums the CapacityUnits of a ConsumedCapacity value (one
// object, or a list of them for batches).
func consumedUnits(raw json.RawMessage) float64 {
	type cc struct{ CapacityUnits float64 }
	var one cc
	if json.Unmarshal(raw, &one) == nil {
		return one.CapacityUnits
	}
	var list []cc
	_ = json.Unmarshal(raw, &list)
	u := 0.0
	for _, c := range list {
		u += c.CapacityUnits
	}
	return u
}
