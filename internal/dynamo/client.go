package dynamo

import (
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// ClientOptions sets what the store expects of its client:
//   - the retry behaviour: the SDK's standard retryer, retrying throttling,
//     timeouts and a single write's TransactionConflictException up to 8
//     times with jittered exponential backoff (at most 1 s apart), without
//     the client-wide retry quota, which would turn a burst of throttling
//     into failures. Cancelled transactions are not retried by the SDK:
//     the store retries those itself, changed (another count slot, without
//     the stale items);
//   - its connection pool: the SDK's HTTP client (with its timeouts, TLS
//     settings and CA bundle) keeps IdleConnsPerHost idle connections. An
//     HTTP client of another kind (a test's double) is left as it is.
//
// Use it when building the client: dynamodb.NewFromConfig(cfg,
// dynamo.ClientOptions); an HTTPClient set by a later option replaces the
// store's.
func ClientOptions(o *dynamodb.Options) {
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = 8
		so.MaxBackoff = time.Second
		so.RateLimiter = ratelimit.None
		so.Retryables = append(so.Retryables, retry.RetryableErrorCode{
			Codes: map[string]struct{}{"TransactionConflictException": {}},
		})
	})
	// The SDK has set up its client before it runs the options.
	if c, ok := o.HTTPClient.(*awshttp.BuildableClient); ok {
		o.HTTPClient = c.WithTransportOptions(keepIdle)
	}
}

// IdleConnsPerHost is how many idle connections to DynamoDB the store's
// HTTP client keeps: enough for its widest fan-outs of one call (a claim
// reads the head and 16 shards at once, and as many again per calling
// window version; a purge 17 partitions; a list page up to 16 rows'
// counts). The SDK's default keeps 10 (awshttp.
// DefaultHTTPTransportMaxIdleConnsPerHost), so every such call closed the
// connections above 10 when it was done and the next one dialled them
// again: 7 new connections, each a TLS handshake on AWS, for every burst of
// 17 requests (measured against DynamoDB Local: 7 dials a burst with the
// default, none with this). The lease sweep's widest (8 outdials × 16
// shards) runs once a minute and is left to dial.
const IdleConnsPerHost = 64

// keepIdle makes a transport keep IdleConnsPerHost idle connections per
// host (for the SDK's idle timeout, 90 s).
func keepIdle(tr *http.Transport) { tr.MaxIdleConnsPerHost = IdleConnsPerHost }
