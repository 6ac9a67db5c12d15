package dynamo_test

import (
	"sync"
	"time"
)

// testClock is the tests' one clock: a store built WithClock(c.Now) sees
// time pass only when the test calls Advance. Safe for concurrent use.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
