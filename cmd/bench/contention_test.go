package main

import (
	"context"
	"testing"
	"time"
)

// TestBatcherSendsAPartialBatchAfterTheWindow feeds the batcher fewer
// outcomes than a batch, as at the end of a run, and wants them handed on
// within the batching window (the batcher used to keep them for good, and
// the contention run hung), then a full batch at once.
func TestBatcherSendsAPartialBatchAfterTheWindow(t *testing.T) {
	c := &contentionRun{
		cfg:     contentionConfig{Batch: 25},
		queue:   make(chan *sentOutcome, 100),
		backlog: make(chan *sentOutcome, 100),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	batches := make(chan []*sentOutcome)
	go c.batcher(ctx, batches)

	for range 3 {
		c.queue <- &sentOutcome{}
	}
	c.backlog <- &sentOutcome{}
	start := time.Now()
	select {
	case b := <-batches:
		if len(b) != 4 {
			t.Errorf("partial batch of %d outcomes, want 4", len(b))
		}
		if took := time.Since(start); took < batchWindow/2 {
			t.Errorf("partial batch sent after %v, before the window", took)
		}
	case <-time.After(3 * batchWindow):
		t.Fatal("no partial batch within 3 batching windows")
	}

	for range 25 {
		c.queue <- &sentOutcome{}
	}
	select {
	case b := <-batches:
		if len(b) != 25 {
			t.Errorf("batch of %d outcomes, want 25", len(b))
		}
	case <-time.After(batchWindow / 2):
		t.Fatal("a full batch waited for the window")
	}
}
