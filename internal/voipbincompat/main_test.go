// Package voipbincompat_test checks that a client of VoIPBIN's Outdial API
// works against this service unchanged (issue 12): it speaks VoIPBIN's wire
// format the way VoIPBIN's SDK does, against the whole local stack of
// `make run`. The key goes as ?accesskey= only; request bodies carry every
// field VoIPBIN's spec lists (campaign_id "" when there is none, all five
// destination slots with unused ones as {}, no try counts); answers are
// decoded with a plain json.Unmarshal into structs typed as VoIPBIN types
// them (types_test.go, written from ../shared/reference/), so unknown
// fields are ignored and a field of the wrong JSON type fails. The package
// holds tests only.
package voipbincompat_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/localruntest"
)

// TestMain shares one DynamoDB Local among the package's tests (or uses
// OUTDIAL_DYNAMODB_ENDPOINT); each stack starts its own SQS stand-in.
func TestMain(m *testing.M) { dynamotest.Main(m) }

// startStack starts the local stack for one test; it stops when the test
// ends.
func startStack(t *testing.T) *localruntest.Stack {
	t.Helper()
	return localruntest.Start(t, localruntest.Options{Prefix: "voipbincompat"})
}

// authMode is how a client sends its token.
type authMode int

const (
	accessKey  authMode = iota // ?accesskey=<token>: VoIPBIN's SDK
	tokenQuery                 // ?token=<token>: the seed's curl
	bearer                     // Authorization: Bearer <token>: a dialer
)

// client calls the stack as one customer.
type client struct {
	base  string
	token string
	mode  authMode
	http  *http.Client
}

// newClient mints a token of st for a new customer and returns a client
// sending it the way mode says, and the customer id.
func newClient(t *testing.T, st *localruntest.Stack, mode authMode) (*client, string) {
	t.Helper()
	customer := uuid.NewString()
	tok, err := st.Token(customer, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &client{base: st.URL, token: tok, mode: mode, http: &http.Client{Timeout: 30 * time.Second}}, customer
}

// as returns a client of the same customer that sends its token the way
// mode says.
func (c *client) as(mode authMode) *client {
	d := *c
	d.mode = mode
	return &d
}

// reply is an HTTP answer.
type reply struct {
	status int
	body   []byte
}

// call sends one request. body is sent as is when it is a string, else as
// its JSON encoding; nil sends no body. query holds the route's own
// parameters; the token is added as the client's mode says.
func (c *client) call(t *testing.T, method, path string, query url.Values, body any) reply {
	t.Helper()
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	switch c.mode {
	case accessKey:
		q.Set("accesskey", c.token)
	case tokenQuery:
		q.Set("token", c.token)
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.mode == bearer {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return reply{status: res.StatusCode, body: raw}
}

// do sends one request, requires a 2xx answer (VoIPBIN documents 200 for
// every route) and decodes it into v, if v is not nil, as a generated
// client does.
func (c *client) do(t *testing.T, method, path string, query url.Values, body, v any) {
	t.Helper()
	r := c.call(t, method, path, query, body)
	if r.status < 200 || r.status > 299 {
		t.Fatalf("%s %s = %d %s, want 2xx", method, path, r.status, r.body)
	}
	if v == nil {
		return
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("%s %s: the answer does not decode into %T: %v\nbody: %s", method, path, v, err, r.body)
	}
}

// fails sends one request and requires status, with an error envelope
// that decodes into VoIPBIN's ErrorResponse.
func (c *client) fails(t *testing.T, method, path string, body any, status int) ErrorBody {
	t.Helper()
	r := c.call(t, method, path, nil, body)
	if r.status != status {
		t.Fatalf("%s %s = %d %s, want %d", method, path, r.status, r.body, status)
	}
	var e ErrorResponse
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("%s %s: the error does not decode into ErrorResponse: %v\nbody: %s", method, path, err, r.body)
	}
	if e.Error.Status == "" || e.Error.Reason == "" || e.Error.Message == "" || e.Error.RequestID == "" {
		t.Errorf("%s %s: error %+v lacks a required field (status, reason, message, request_id)", method, path, e.Error)
	}
	return e.Error
}
