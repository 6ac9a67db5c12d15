package ddbdouble

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
)

// partial serves a BatchGetItem or BatchWriteItem in part (Fault.Partial):
// the first keys or write requests of each table that pick chooses, the
// others answered unprocessed, in the shapes of
// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
// and API_BatchWriteItem.html.
func (d *Double) partial(req *http.Request, tag, op string, pick func(table string, n int) int, body []byte) (*http.Response, error) {
	var raw map[string]json.RawMessage
	var tables map[string]json.RawMessage
	if json.Unmarshal(body, &raw) != nil || json.Unmarshal(raw["RequestItems"], &tables) != nil {
		return d.serve(req, tag, op, body)
	}
	field := "UnprocessedItems"
	if op == "BatchGetItem" {
		field = "UnprocessedKeys"
	}
	served := map[string]json.RawMessage{}
	withheld := map[string]json.RawMessage{}
	for _, name := range slices.Sorted(maps.Keys(tables)) {
		// A BatchGetItem table is a KeysAndAttributes object whose Keys are
		// split; a BatchWriteItem table is a list of write requests.
		var ka map[string]json.RawMessage
		var list []json.RawMessage
		if op == "BatchGetItem" {
			if json.Unmarshal(tables[name], &ka) != nil || json.Unmarshal(ka["Keys"], &list) != nil {
				return d.serve(req, tag, op, body)
			}
		} else if json.Unmarshal(tables[name], &list) != nil {
			return d.serve(req, tag, op, body)
		}
		n := min(max(pick(name, len(list)), 0), len(list))
		part := func(items []json.RawMessage) json.RawMessage {
			if op != "BatchGetItem" {
				b, _ := json.Marshal(items)
				return b
			}
			out := maps.Clone(ka)
			out["Keys"], _ = json.Marshal(items)
			b, _ := json.Marshal(out)
			return b
		}
		if n > 0 {
			served[name] = part(list[:n])
		}
		if n < len(list) {
			withheld[name] = part(list[n:])
		}
	}
	if len(withheld) == 0 {
		return d.serve(req, tag, op, body)
	}
	d.recordLocked(tag, func(s *Stats) { s.Faults++ })

	if len(served) == 0 {
		// Nothing processed: an answer of unprocessed keys only, after the
		// request latency as any other.
		if err := sleep(req.Context(), d.cfg.RequestLatency); err != nil {
			return nil, err
		}
		out := map[string]any{field: withheld}
		if op == "BatchGetItem" {
			out["Responses"] = map[string]any{}
		}
		b, _ := json.Marshal(out)
		return d.response(req, http.StatusOK, b), nil
	}

	raw["RequestItems"], _ = json.Marshal(served)
	sub, _ := json.Marshal(raw)
	resp, err := d.serve(req, tag, op, sub)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	// Add what was withheld to what the engine left unprocessed.
	unprocessed := map[string]json.RawMessage{}
	_ = json.Unmarshal(out[field], &unprocessed)
	for name, w := range withheld {
		if have, ok := unprocessed[name]; ok {
			w = appendUnprocessed(op, have, w)
		}
		unprocessed[name] = w
	}
	out[field], _ = json.Marshal(unprocessed)
	b, _ = json.Marshal(out)
	replaceBody(resp, b)
	return resp, nil
}

// appendUnprocessed adds the withheld keys or write requests w of one
// table to the ones the engine left unprocessed, have.
func appendUnprocessed(op string, have, w json.RawMessage) json.RawMessage {
	if op != "BatchGetItem" {
		var a, b []json.RawMessage
		_ = json.Unmarshal(have, &a)
		_ = json.Unmarshal(w, &b)
		out, _ := json.Marshal(append(a, b...))
		return out
	}
	var a, b map[string]json.RawMessage
	var ka, kb []json.RawMessage
	_ = json.Unmarshal(have, &a)
	_ = json.Unmarshal(w, &b)
	_ = json.Unmarshal(a["Keys"], &ka)
	_ = json.Unmarshal(b["Keys"], &kb)
	b["Keys"], _ = json.Marshal(append(ka, kb...))
	out, _ := json.Marshal(b)
	return out
}
