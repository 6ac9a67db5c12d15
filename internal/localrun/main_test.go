package localrun_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/localruntest"
)

// TestMain shares one DynamoDB Local among the package's tests (or uses
// OUTDIAL_DYNAMODB_ENDPOINT); each stack starts its own fauxqs.
func TestMain(m *testing.M) { dynamotest.Main(m) }

// stack is a running local stack (logs: Logs and LogWriter) and a client.
type stack struct {
	*localruntest.Stack
	client *http.Client
}

// startStack starts the whole local stack on the test binary's DynamoDB
// Local and a fauxqs of its own, and stops it when the test ends, after
// which nothing may answer on its address.
func startStack(t *testing.T) *stack {
	t.Helper()
	return startStackWith(t, localruntest.Options{})
}

// startStackWith is startStack with options (parameter overrides, the
// period of the scheduled functions); the prefix is always "localrun".
func startStackWith(t *testing.T, opt localruntest.Options) *stack {
	t.Helper()
	opt.Prefix = "localrun"
	st := localruntest.Start(t, opt)
	t.Cleanup(func() {
		st.Close() // again after this, by localruntest: Close is idempotent
		c := &http.Client{Timeout: time.Second}
		if res, err := c.Get(st.URL + "/v1.0/outdials"); err == nil {
			res.Body.Close()
			t.Errorf("cleanup: %s still answers after Close", st.URL)
		}
	})
	return &stack{Stack: st, client: &http.Client{Timeout: 30 * time.Second}}
}

// token mints a token of the stack for customer.
func (s *stack) token(t *testing.T, customer string, ttl time.Duration) string {
	t.Helper()
	tok, err := s.Token(customer, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// reply is an HTTP answer.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) String() string { return http.StatusText(r.status) + " " + string(r.body) }

// errorBody is the service's error envelope.
type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		Field     string `json:"field"`
		Status    string `json:"status"`
		Reason    string `json:"reason"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

func (r reply) errorBody(t *testing.T) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code == "" {
		t.Fatalf("answer %d %s is not an error envelope (%v)", r.status, r.body, err)
	}
	return e
}

// request is one HTTP call to the stack.
type request struct {
	method, path string
	token        string // sent as Bearer unless inQuery
	inQuery      bool   // token as ?token= (the seed's form)
	contentType  string // default application/json when body is set
	body         string
	query        string // extra raw query, without '?'
	base         string // server URL; the stack's when empty
}

// do sends req; any 5xx fails the test: no input may make the service
// answer one.
func (s *stack) do(t *testing.T, req request) reply {
	t.Helper()
	url := s.URL + req.path
	if req.base != "" {
		url = req.base + req.path
	}
	var q []string
	if req.query != "" {
		q = append(q, req.query)
	}
	if req.token != "" && req.inQuery {
		q = append(q, "token="+req.token)
	}
	if len(q) > 0 {
		url += "?" + strings.Join(q, "&")
	}
	var body io.Reader
	if req.body != "" {
		body = strings.NewReader(req.body)
	}
	hreq, err := http.NewRequest(req.method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if req.body != "" {
		ct := req.contentType
		if ct == "" {
			ct = "application/json"
		}
		hreq.Header.Set("Content-Type", ct)
	}
	if req.token != "" && !req.inQuery {
		hreq.Header.Set("Authorization", "Bearer "+req.token)
	}
	res, err := s.client.Do(hreq)
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.method, req.path, err)
	}
	r := reply{status: res.StatusCode, header: res.Header, body: b}
	if r.status >= 500 {
		t.Errorf("%s %s answered %d %s; no request may get a 5xx", req.method, req.path, r.status, b)
	}
	return r
}

// ok sends req and decodes a 200 answer into v (if not nil).
func (s *stack) ok(t *testing.T, req request, v any) {
	t.Helper()
	r := s.do(t, req)
	if r.status != http.StatusOK {
		t.Fatalf("%s %s = %d %s, want 200", req.method, req.path, r.status, r.body)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("%s %s: decode %s: %v", req.method, req.path, r.body, err)
		}
	}
}

// outdialJSON is the part of an outdial the tests read.
type outdialJSON struct {
	ID           string           `json:"id"`
	CustomerID   string           `json:"customer_id"`
	Name         string           `json:"name"`
	Detail       string           `json:"detail"`
	TargetCount  int64            `json:"target_count"`
	TargetCounts map[string]int64 `json:"target_counts"`
	TMCreate     string           `json:"tm_create"`
	TMUpdate     string           `json:"tm_update"`
	Data         string           `json:"data"`
}

// targetJSON is the part of a target the tests read.
type targetJSON struct {
	ID              string `json:"id"`
	OutdialID       string `json:"outdial_id"`
	Name            string `json:"name"`
	Status          string `json:"status"`
	TryCountMax     int    `json:"try_count_max"`
	TryCountCurrent int    `json:"try_count_current"`
	LastResult      string `json:"last_result"`
	Destination     struct {
		Type   string `json:"type"`
		Target string `json:"target"`
	} `json:"destination"`
}

// list is a page of a list route.
type list[T any] struct {
	Result        []T    `json:"result"`
	NextPageToken string `json:"next_page_token"`
}

// importJSON is the answer of a batch or CSV import.
type importJSON struct {
	Created        int `json:"created"`
	Duplicates     int `json:"duplicates"`
	Rejected       int `json:"rejected"`
	CreatedTargets []struct {
		Index    int    `json:"index"`
		TargetID string `json:"target_id"`
	} `json:"created_targets"`
	RejectedTargets []struct {
		Index int    `json:"index"`
		Code  string `json:"code"`
		Field string `json:"field"`
	} `json:"rejected_targets"`
}

// claimJSON is one entry of a claim answer.
type claimJSON struct {
	AttemptID   string `json:"attempt_id"`
	Destination struct {
		Type   string `json:"type"`
		Target string `json:"target"`
	} `json:"destination"`
	Target targetJSON `json:"target"`
}
