package dynamo_test

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/outdial/outdial/internal/dynamo"
)

// TestWarmCallsReuseConnections: a claim reads the head and 16 shards at
// once, a purge 17 partitions. Once the first calls have opened those
// connections, the same calls again reuse them: dynamo.ClientOptions
// makes the SDK's HTTP client keep them (dynamo.IdleConnsPerHost). With
// the SDK's default of 10 each call dials again, which on AWS is a TLS
// handshake per connection.
func TestWarmCallsReuseConnections(t *testing.T) {
	h := newStoreHarness(t)
	var dials atomic.Int64
	countDials := func(tr *http.Transport) {
		d := &net.Dialer{Timeout: 5 * time.Second}
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		}
	}
	// A client as a function builds it (dynamo.ClientOptions on the SDK's
	// own HTTP client), its dials counted.
	opts := h.client.Options()
	opts.HTTPClient = nil
	client := dynamodb.New(opts, dynamo.ClientOptions, func(o *dynamodb.Options) {
		o.HTTPClient = o.HTTPClient.(*awshttp.BuildableClient).WithTransportOptions(countDials)
	})
	if got := client.Options().HTTPClient.(*awshttp.BuildableClient).GetTransport().MaxIdleConnsPerHost; got != dynamo.IdleConnsPerHost {
		t.Errorf("MaxIdleConnsPerHost = %d, want %d", got, dynamo.IdleConnsPerHost)
	}
	store := dynamo.New(client, h.table).WithClock(h.clock.Now)
	cust := h.customer()
	o := h.outdial(cust, "warm")
	if _, err := h.store.AddTargets(h.ctx, cust, o.ID, "r1", tels(0, 200)); err != nil {
		t.Fatal(err)
	}
	gone := h.outdial(cust, "gone")
	if _, err := h.store.DeleteOutdial(h.ctx, cust, gone.ID, nil); err != nil {
		t.Fatal(err)
	}
	calls := func() {
		t.Helper()
		if _, err := store.ClaimTargets(h.ctx, cust, o.ID, 5, time.Minute); err != nil {
			t.Fatalf("ClaimTargets: %v", err)
		}
		// The marker is gone after the first purge; the head and the
		// marker read then, so warm up with an unmarked purge's 17 reads.
		if _, err := store.PurgeTargets(h.ctx, cust, gone.ID, true); err != nil {
			t.Fatalf("PurgeTargets: %v", err)
		}
	}
	calls()
	calls()
	first := dials.Load()
	if first < 17 {
		t.Fatalf("the first calls dialled %d connections; the test wants a fan-out of at least 17", first)
	}
	for range 4 {
		calls()
	}
	// A round may now and then have one request more in flight at once
	// than any before it, and dial for it (a fresh-clone run saw 1): that
	// is not churn. Churn is every round dialling again what the pool
	// closed: 7 a round with the SDK's 10, 50 in three rounds.
	if again := dials.Load() - first; again > 2 {
		t.Errorf("four more rounds of the same calls dialled %d new connections (the first two rounds %d); want at most 2", again, first)
	}
}
