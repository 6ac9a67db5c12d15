package main

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/outdial/outdial/internal/dynamo"
)

// counting wraps a dynamo.API and counts every request by operation. It
// also asks DynamoDB for the capacity each request consumed
// (ReturnConsumedCapacity=INDEXES, set on a copy of the input so the
// caller's input is untouched) and sums what comes back.
type counting struct {
	next dynamo.API

	mu         sync.Mutex
	c          counts
	armed      bool      // record the next write's start in firstWrite
	firstWrite time.Time // start of the first write after ArmFirstWrite
}

// ArmFirstWrite makes the wrapper note when the next write request
// starts; FirstWrite returns it.
func (w *counting) ArmFirstWrite() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed, w.firstWrite = true, time.Time{}
}

// FirstWrite returns the start of the first write request after
// ArmFirstWrite, or the zero time.
func (w *counting) FirstWrite() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.firstWrite
}

// noteWrite records start as the first write if the wrapper is armed.
func (w *counting) noteWrite(start time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.armed {
		w.armed, w.firstWrite = false, start
	}
}

var _ dynamo.API = (*counting)(nil)

// counts is a snapshot of what a counting wrapper saw.
type counts struct {
	// Ops is the number of requests per operation name.
	Ops map[string]int
	// RCU and WCU are the capacity units DynamoDB reported for reads and
	// writes (table and indexes together); IndexWCU is the part of WCU
	// that went to global secondary indexes.
	RCU, WCU, IndexWCU float64
	// ReadUnits is RCU by operation.
	ReadUnits map[string]float64
	// BatchGetKeys counts the keys the BatchGetItem requests asked for
	// (DynamoDB charges a strongly consistent read for every one, found or
	// not; DynamoDB Local reports only the items found).
	BatchGetKeys int
	// EmptyQueries counts the queries that reported no capacity (DynamoDB
	// Local reports 0 for a query that finds nothing; DynamoDB charges at
	// least half a unit).
	EmptyQueries int
	// ItemsRead counts the items the reads returned, by operation.
	ItemsRead map[string]int
	// Time is the summed duration of the requests, by operation
	// (requests in parallel overlap, so the sum can exceed the wall time).
	Time map[string]time.Duration
	// Errors counts the requests that returned an error (a failed
	// condition, a cancelled transaction, a throttle), by operation.
	Errors map[string]int
	// Reported and Unreported count the successful requests whose
	// response did and did not carry ConsumedCapacity.
	Reported, Unreported int
}

// Requests is the total number of requests.
func (c counts) Requests() int {
	n := 0
	for _, v := range c.Ops {
		n += v
	}
	return n
}

// Failed is the total number of requests that returned an error.
func (c counts) Failed() int {
	n := 0
	for _, v := range c.Errors {
		n += v
	}
	return n
}

// Succeeded returns how many requests of op succeeded.
func (c counts) Succeeded(op string) int { return c.Ops[op] - c.Errors[op] }

// Sub returns c minus before: what happened between two snapshots.
func (c counts) Sub(before counts) counts {
	out := counts{
		Ops: map[string]int{}, Errors: map[string]int{}, Time: map[string]time.Duration{},
		ReadUnits: map[string]float64{}, ItemsRead: map[string]int{},
		RCU: c.RCU - before.RCU, WCU: c.WCU - before.WCU, IndexWCU: c.IndexWCU - before.IndexWCU,
		Reported: c.Reported - before.Reported, Unreported: c.Unreported - before.Unreported,
		BatchGetKeys: c.BatchGetKeys - before.BatchGetKeys, EmptyQueries: c.EmptyQueries - before.EmptyQueries,
	}
	maps.Copy(out.Ops, c.Ops)
	maps.Copy(out.Errors, c.Errors)
	maps.Copy(out.Time, c.Time)
	maps.Copy(out.ReadUnits, c.ReadUnits)
	maps.Copy(out.ItemsRead, c.ItemsRead)
	for k, v := range before.ItemsRead {
		out.ItemsRead[k] -= v
		if out.ItemsRead[k] == 0 {
			delete(out.ItemsRead, k)
		}
	}
	for k, v := range before.ReadUnits {
		out.ReadUnits[k] -= v
		if out.ReadUnits[k] == 0 {
			delete(out.ReadUnits, k)
		}
	}
	for k, v := range before.Time {
		out.Time[k] -= v
		if out.Time[k] == 0 {
			delete(out.Time, k)
		}
	}
	for k, v := range before.Ops {
		out.Ops[k] -= v
		if out.Ops[k] == 0 {
			delete(out.Ops, k)
		}
	}
	for k, v := range before.Errors {
		out.Errors[k] -= v
		if out.Errors[k] == 0 {
			delete(out.Errors, k)
		}
	}
	return out
}

func newCounting(next dynamo.API) *counting {
	return &counting{next: next, c: counts{
		Ops: map[string]int{}, Errors: map[string]int{}, Time: map[string]time.Duration{},
		ReadUnits: map[string]float64{}, ItemsRead: map[string]int{},
	}}
}

// Snapshot returns the counts so far.
func (w *counting) Snapshot() counts {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.c
	c.Ops = maps.Clone(w.c.Ops)
	c.Errors = maps.Clone(w.c.Errors)
	c.Time = maps.Clone(w.c.Time)
	c.ReadUnits = maps.Clone(w.c.ReadUnits)
	c.ItemsRead = maps.Clone(w.c.ItemsRead)
	return c
}

// read counts n items returned by a read of op.
func (w *counting) read(op string, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.c.ItemsRead[op] += n
}

// record counts one request of op that started at start, and the
// capacity its response reported.
func (w *counting) record(op string, start time.Time, write bool, err error, cc ...types.ConsumedCapacity) {
	d := time.Since(start)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.c.Ops[op]++
	w.c.Time[op] += d
	if err != nil {
		w.c.Errors[op]++
		return
	}
	if len(cc) == 0 {
		w.c.Unreported++
		return
	}
	w.c.Reported++
	if op == "Query" && aws.ToFloat64(cc[0].CapacityUnits) == 0 {
		w.c.EmptyQueries++
	}
	for _, c := range cc {
		total := aws.ToFloat64(c.CapacityUnits)
		var index float64
		for _, g := range c.GlobalSecondaryIndexes {
			index += aws.ToFloat64(g.CapacityUnits)
		}
		if write {
			w.c.WCU += total
			w.c.IndexWCU += index
		} else {
			w.c.RCU += total
			w.c.ReadUnits[op] += total
		}
	}
}

func one(c *types.ConsumedCapacity) []types.ConsumedCapacity {
	if c == nil {
		return nil
	}
	return []types.ConsumedCapacity{*c}
}

const rcc = types.ReturnConsumedCapacityIndexes

// GetItem implements dynamo.API.
func (w *counting) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	cp := *in
	cp.ReturnConsumedCapacity = rcc
	start := time.Now()
	out, err := w.next.GetItem(ctx, &cp, opts...)
	var cc []types.ConsumedCapacity
	if err == nil {
		cc = one(out.ConsumedCapacity)
		if out.Item != nil {
			w.read("GetItem", 1)
		}
	}
	w.record("GetItem", start, false, err, cc...)
	return out, err
}

// PutItem implements dynamo.API.
func (w *counting) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	cp := *in
	cp.ReturnConsumedCapacity = rcc
	start := time.Now()
	w.noteWrite(start)
	out, err := w.next.PutItem(ctx, &cp, opts...)
	var cc []types.ConsumedCapacity
	if err == nil {
		cc = one(out.ConsumedCapacity)
	}
	w.record("PutItem", start, true, err, cc...)
	return out, err
}

// UpdateItem implements dynamo.API.
func (w *counting) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	cp := *in
	cp.ReturnConsumedCapacity = rcc
	start := time.Now()
	w.noteWrite(start)
	out, err := w.next.UpdateItem(ctx, &cp, opts...)
	var cc []types.ConsumedCapacity
	if err == nil {
		cc = one(out.ConsumedCapacity)
	}
	w.record("UpdateItem", start, true, err, cc...)
	return out, err
}

// DeleteItem implements dynamo.API.
func (w *counting) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	cp := *in
	cp.ReturnConsumedCapacity = rcc
	start := time.Now()
	w.noteWrite(start)
	out, err := w.next.DeleteItem(ctx, &cp, opts...)
	var cc []types.ConsumedCapacity
	if err == nil {
		cc = one(out.ConsumedCapacity)
	}
	w.record("DeleteItem", start, true, err, cc...)
	return out, err
}

// Query implements dynamo.API.
func (w *counting) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	cp := *in
	cp.ReturnConsumedCapacity = rcc
	start := time.Now()
	out, err := w.next.Query(ctx, &cp, opts...)
	var cc []types.ConsumedCapacity
	if err == nil {
		cc = one(out.ConsumedCapacity)
		w.read("Query", len(out.Items))
	}
	w.record("Query", start, false, err, cc...)
	return out, err
}

// BatchGetItem implements dynamo.API.
func (w *counting) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	cp := *in
	cp.ReturnConsumedCapacity = rcc
	keys := 0
	for _, ka := range in.RequestItems {
		keys += len(ka.Keys)
	}
	w.mu.Lock()
	w.c.BatchGetKeys += keys
	w.mu.Unlock()
	start := time.Now()
	out, err := w.next.BatchGetItem(ctx, &cp, opts...)
	var cc []types.ConsumedCapacity
	if err == nil {
		cc = out.ConsumedCapacity
		n := 0
		for _, items := range out.Responses {
			n += len(items)
		}
		w.read("BatchGetItem", n)
	}
	w.record("BatchGetItem", start, false, err, cc...)
	return out, err
}

// BatchWriteItem implements dynamo.API.
func (w *counting) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	cp := *in
	cp.ReturnConsumedCapacity = rcc
	start := time.Now()
	w.noteWrite(start)
	out, err := w.next.BatchWriteItem(ctx, &cp, opts...)
	var cc []types.ConsumedCapacity
	if err == nil {
		cc = out.ConsumedCapacity
	}
	w.record("BatchWriteItem", start, true, err, cc...)
	return out, err
}

// TransactWriteItems implements dynamo.API.
func (w *counting) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	cp := *in
	cp.ReturnConsumedCapacity = rcc
	start := time.Now()
	w.noteWrite(start)
	out, err := w.next.TransactWriteItems(ctx, &cp, opts...)
	var cc []types.ConsumedCapacity
	if err == nil {
		cc = out.ConsumedCapacity
	}
	w.record("TransactWriteItems", start, true, err, cc...)
	return out, err
}
