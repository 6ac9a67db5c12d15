package localrun_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/auth"
	"github.com/outdial/outdial/internal/localrun"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/samtemplate"
)

// The body of each route that takes one: a request that would change
// something if it reached the handler. A new POST or PUT route without an
// entry here fails TestSecuritySweep until one is added.
var routeBodies = map[string]string{
	"POST /v1.0/outdials":                     `{"name":"sweep"}`,
	"PUT /v1.0/outdials/{id}":                 `{"name":"hijacked"}`,
	"PUT /v1.0/outdials/{id}/campaign_id":     `{"campaign_id":"0190a3a4-7b1c-7d2e-8f30-4a5b6c7d8e9f"}`,
	"PUT /v1.0/outdials/{id}/data":            `{"data":"hijacked"}`,
	"POST /v1.0/outdials/{id}/targets":        `{"destination":{"type":"tel","target":"+15550009999"},"try_count_max":2}`,
	"POST /v1.0/outdials/{id}/targets/claim":  `{"limit":100,"lease_seconds":60}`,
	"POST /v1.0/outdials/{id}/archive":        `{}`,
	"POST /v1.0/outdials/{id}/targets/delete": `{"status":"idle"}`,
	"POST /v1.0/suppressions":                 `{"addresses":["tel:+15550009999"]}`,
	"POST /v1.0/suppressions/check":           `{"addresses":["tel:+15550009999"]}`,
	"POST /v1.0/suppressions/delete":          `{"addresses":["tel:+15550009999"]}`,
	// The webhook (issue 15): sets one, makes a new secret, queues a ping.
	"PUT /v1.0/webhook":         `{"uri":"https://hooks.example.com/sweep","event_types":["outdial_deleted"]}`,
	"POST /v1.0/webhook/rotate": `{}`,
	"POST /v1.0/webhook/test":   `{}`,
}

// credPlaces are where a request may carry its token: the Authorization
// header, ?token= (the seed's form) and ?accesskey= (what VoIPBIN's SDK
// sends).
var credPlaces = []string{"header", "query", "accesskey"}

// withCred returns req carrying token in the place where.
func withCred(req request, token, where string) request {
	switch where {
	case "header":
		req.token = token
	case "query":
		req.token, req.inQuery = token, true
	case "accesskey":
		req.query = "accesskey=" + token
	}
	return req
}

// readOnlyFields are fields of the answers that clients must never set.
var readOnlyFields = []string{"id", "customer_id", "status", "try_count_current", "tm_create", "tm_update",
	"outdial_id", "target_count", "target_counts", "attempt_id", "tm_last_result", "next_attempt_at", "reason",
	"secret"}

// countingHandler counts the invocations of a function.
type countingHandler struct {
	name   string
	inner  lambda.Handler
	counts *invocations
}

func (h countingHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	h.counts.mu.Lock()
	h.counts.n[h.name]++
	h.counts.mu.Unlock()
	return h.inner.Invoke(ctx, payload)
}

// invocations counts function invocations by name.
type invocations struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *invocations) get(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

// countingGateway serves the template's routes with the stack's own
// functions (same handlers, same table) behind a second gateway whose
// functions count their invocations, so the sweep can prove a handler
// never ran.
func countingGateway(t *testing.T, st *stack, tpl *samtemplate.Template) (string, *invocations) {
	t.Helper()
	counts := &invocations{n: map[string]int{}}
	wrap := func(name string) *localrun.Function {
		f := st.Functions[name]
		if f == nil {
			t.Fatalf("the stack has no function %s", name)
		}
		return &localrun.Function{Name: f.Name, Timeout: f.Timeout, Handler: countingHandler{name: name, inner: f.Handler, counts: counts}}
	}
	authz := tpl.Authorizer()
	if authz == nil {
		t.Fatal("template has no authorizer")
	}
	gw := localrun.NewGateway(wrap(authz.Name), slog.New(slog.NewJSONHandler(st.LogWriter(), nil)))
	for _, r := range tpl.Routes() {
		gw.Route(r.Method, r.Path, wrap(r.Function.Name), r.Authorized)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv.URL, counts
}

// snapshot returns every item of the stack's table, in a stable order, so
// two snapshots compare equal exactly when nothing was written.
func snapshot(t *testing.T, st *stack) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := localstack.DynamoDBClient(ctx, st.DynamoDBEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	var items []string
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(st.TableName), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			b, err := json.Marshal(it)
			if err != nil {
				t.Fatal(err)
			}
			items = append(items, string(b))
		}
	}
	sort.Strings(items)
	return items
}

func sameSnapshot(t *testing.T, what string, before, after []string) {
	t.Helper()
	if reflect.DeepEqual(before, after) {
		return
	}
	t.Errorf("%s changed the table: %d items before, %d after", what, len(before), len(after))
	in := map[string]bool{}
	for _, b := range before {
		in[b] = true
	}
	for _, a := range after {
		if !in[a] {
			t.Logf("new or changed item: %.300s", a)
		}
	}
}

// fill replaces the path parameters of a route with ids.
func fill(t *testing.T, path string, ids map[string]string) string {
	t.Helper()
	for {
		i := strings.Index(path, "{")
		if i < 0 {
			return path
		}
		j := strings.Index(path[i:], "}")
		name := path[i+1 : i+j]
		v, ok := ids[name]
		if !ok {
			t.Fatalf("route parameter {%s} is new: teach the security sweep what to put in it", name)
		}
		path = path[:i] + v + path[i+j+1:]
	}
}

// normalised is an error body without its request id, for comparing two
// answers.
func normalised(t *testing.T, r reply) errorBody {
	t.Helper()
	e := r.errorBody(t)
	e.Error.RequestID = ""
	return e
}

// TestSecuritySweep runs issue 6's security sweep against the local stack:
// every route of the template with every kind of bad credentials, another
// customer's ids, lists and page tokens, and read-only body fields.
func TestSecuritySweep(t *testing.T) {
	st := startStack(t)
	tpl, err := samtemplate.LoadRepo()
	if err != nil {
		t.Fatal(err)
	}
	routes := tpl.Routes()
	if len(routes) < 12 {
		t.Fatalf("template has %d routes; the sweep expects at least the 12 of the API", len(routes))
	}
	counted, counts := countingGateway(t, st, tpl)

	custA, custB := uuid.NewString(), uuid.NewString()
	tokA, tokB := st.token(t, custA, time.Hour), st.token(t, custB, time.Hour)

	// Customer A's outdial with two targets, which the sweep aims at.
	var odA outdialJSON
	st.ok(t, request{method: "POST", path: "/v1.0/outdials", token: tokA, body: `{"name":"A's list","data":"owner=A"}`}, &odA)
	var imp importJSON
	st.ok(t, request{method: "POST", path: "/v1.0/outdials/" + odA.ID + "/targets", token: tokA,
		body: `{"targets":[{"destination":{"type":"tel","target":"+15550001111"}},{"destination":{"type":"email","target":"a.person@example.com"}}]}`}, &imp)
	if imp.Created != 2 {
		t.Fatalf("import for A = %+v", imp)
	}
	idsA := map[string]string{"id": odA.ID, "target_id": imp.CreatedTargets[0].TargetID}

	for _, r := range routes {
		if !r.Authorized {
			t.Errorf("route %s %s is not behind the authorizer", r.Method, r.Path)
		}
		if (r.Method == "POST" || r.Method == "PUT") && routeBodies[r.Method+" "+r.Path] == "" {
			t.Errorf("route %s %s takes a body: add a request to routeBodies", r.Method, r.Path)
		}
	}

	t.Run("bad credentials never reach a handler", func(t *testing.T) {
		now := time.Now()
		valid := st.token(t, custA, time.Hour)
		forged, _ := auth.Mint("a-forger's-secret-0123456789abcdef-0123", custA, time.Hour, now)
		expired, _ := auth.Mint(st.TokenSecret, custA, -5*time.Minute, now)
		none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, auth.Claims{CustomerID: custA,
			RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}}).SignedString(jwt.UnsafeAllowNoneSignatureType)
		hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, auth.Claims{CustomerID: custA,
			RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}}).SignedString([]byte(st.TokenSecret))
		noCustomer, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, auth.Claims{
			RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}}).SignedString([]byte(st.TokenSecret))
		creds := []struct {
			name  string
			token string
		}{
			{"no token", ""},
			{"expired", expired},
			{"forged signature", forged},
			{"alg none", none},
			{"HS512", hs512},
			{"no customer_id", noCustomer},
			{"truncated signature", valid[:len(valid)-6]},
			{"malformed", "not-a-jwt"},
			{"three junk parts", "a.b.c"},
		}
		before := snapshot(t, st)
		beforeAuthz := counts.get(tpl.Authorizer().Name)
		sent := 0
		for _, r := range routes {
			path := fill(t, r.Path, idsA)
			body := routeBodies[r.Method+" "+r.Path]
			for _, c := range creds {
				for _, where := range credPlaces {
					for _, base := range []string{"", counted} {
						name := fmt.Sprintf("%s %s, %s in the %s", r.Method, r.Path, c.name, where)
						if c.token == "" && where != "header" {
							continue // same as the header case
						}
						got := st.do(t, withCred(request{method: r.Method, path: path, body: body, base: base}, c.token, where))
						sent++
						if got.status != http.StatusForbidden && got.status != http.StatusUnauthorized {
							t.Errorf("%s: %d %s, want 403", name, got.status, got.body)
							continue
						}
						if string(got.body) != `{"message":"Forbidden"}` && string(got.body) != `{"message":"Unauthorized"}` {
							t.Errorf("%s: body %s, want the gateway's own", name, got.body)
						}
					}
				}
			}
			// A token that is not a Bearer token, or a query parameter
			// with another name, does not count either.
			for _, h := range []request{
				{method: r.Method, path: path, body: body, query: "Token=" + valid},
				{method: r.Method, path: path, body: body, query: "access_token=" + valid},
			} {
				if got := st.do(t, h); got.status != http.StatusForbidden {
					t.Errorf("%s %s with ?%s: %d %s, want 403", r.Method, path, strings.SplitN(h.query, "=", 2)[0], got.status, got.body)
				}
			}
		}
		for _, r := range routes {
			if n := counts.get(r.Function.Name); n != 0 {
				t.Errorf("function %s ran %d times for requests with bad credentials", r.Function.Name, n)
			}
		}
		if n := counts.get(tpl.Authorizer().Name) - beforeAuthz; n != sent/2 {
			t.Errorf("the authorizer ran %d times for %d requests to the counting gateway", n, sent/2)
		}
		sameSnapshot(t, "requests with bad credentials", before, snapshot(t, st))

		// Control: a valid token, in the header or the query, does reach
		// every handler (ids nobody has, so nothing changes).
		missing := map[string]string{"id": uuid.NewString(), "target_id": uuid.NewString()}
		for _, r := range routes {
			for _, where := range credPlaces {
				n := counts.get(r.Function.Name)
				body := ""
				if r.Method == "POST" || r.Method == "PUT" {
					body = "{}" // rejected by the handler, so nothing is created
				}
				got := st.do(t, withCred(request{method: r.Method, path: fill(t, r.Path, missing), body: body, base: counted}, valid, where))
				if got.status == http.StatusForbidden || got.status == http.StatusUnauthorized {
					t.Errorf("%s %s with a valid token in the %s: %d %s", r.Method, r.Path, where, got.status, got.body)
				}
				if counts.get(r.Function.Name) != n+1 {
					t.Errorf("%s %s with a valid token: function %s did not run", r.Method, r.Path, r.Function.Name)
				}
			}
		}
	})

	t.Run("another customer's ids are missing ids", func(t *testing.T) {
		before := snapshot(t, st)
		missing := map[string]string{"id": uuid.NewString(), "target_id": uuid.NewString()}
		// A's outdial with a target id A does not have either.
		for _, r := range routes {
			if !strings.Contains(r.Path, "{id}") {
				continue
			}
			body := routeBodies[r.Method+" "+r.Path]
			asB := st.do(t, request{method: r.Method, path: fill(t, r.Path, idsA), token: tokB, body: body})
			asBMissing := st.do(t, request{method: r.Method, path: fill(t, r.Path, missing), token: tokB, body: body})
			name := r.Method + " " + r.Path
			if asB.status != http.StatusNotFound {
				t.Errorf("%s as another customer: %d %s, want 404", name, asB.status, asB.body)
				continue
			}
			if asBMissing.status != http.StatusNotFound {
				t.Errorf("%s with ids nobody has: %d %s, want 404", name, asBMissing.status, asBMissing.body)
				continue
			}
			got, want := normalised(t, asB), normalised(t, asBMissing)
			if got.Error.Code != "not_found" {
				t.Errorf("%s as another customer: code %s, want not_found", name, got.Error.Code)
			}
			if got != want {
				t.Errorf("%s: another customer's ids answer %+v, missing ids %+v; want the same", name, got, want)
			}
			if strings.Contains(string(asB.body), odA.ID) || strings.Contains(string(asB.body), custA) {
				t.Errorf("%s: the 404 names A's outdial or customer: %s", name, asB.body)
			}
		}
		sameSnapshot(t, "another customer's requests", before, snapshot(t, st))

		// A still sees everything as it was.
		var od outdialJSON
		st.ok(t, request{method: "GET", path: "/v1.0/outdials/" + odA.ID, token: tokA}, &od)
		if od.Name != "A's list" || od.Data != "owner=A" || od.TargetCount != 2 || od.TargetCounts["idle"] != 2 {
			t.Errorf("A's outdial after B's requests = %+v", od)
		}
	})

	t.Run("lists never contain another customer's rows", func(t *testing.T) {
		// More outdials for both, so that lists have several pages.
		ownA := map[string]bool{odA.ID: true}
		ownB := map[string]bool{}
		for i := 0; i < 3; i++ {
			var a, b outdialJSON
			st.ok(t, request{method: "POST", path: "/v1.0/outdials", token: tokA, body: fmt.Sprintf(`{"name":"A %d"}`, i)}, &a)
			st.ok(t, request{method: "POST", path: "/v1.0/outdials", token: tokB, body: fmt.Sprintf(`{"name":"B %d"}`, i)}, &b)
			ownA[a.ID], ownB[b.ID] = true, true
		}
		for _, c := range []struct {
			name string
			tok  string
			own  map[string]bool
		}{{"A", tokA, ownA}, {"B", tokB, ownB}} {
			for _, size := range []int{1, 2, 100} {
				seen := map[string]bool{}
				pageToken := ""
				for page := 0; ; page++ {
					if page > 50 {
						t.Fatalf("%s's list does not end", c.name)
					}
					q := fmt.Sprintf("page_size=%d", size)
					if pageToken != "" {
						q += "&page_token=" + pageToken
					}
					var l list[outdialJSON]
					st.ok(t, request{method: "GET", path: "/v1.0/outdials", token: c.tok, query: q}, &l)
					for _, o := range l.Result {
						if !c.own[o.ID] {
							t.Errorf("%s's list (page size %d) holds outdial %s (%q), not theirs", c.name, size, o.ID, o.Name)
						}
						seen[o.ID] = true
					}
					if pageToken = l.NextPageToken; pageToken == "" {
						break
					}
				}
				if len(seen) != len(c.own) {
					t.Errorf("%s's list (page size %d) has %d outdials, want %d", c.name, size, len(seen), len(c.own))
				}
			}
		}
		// B's targets list of B's own outdial holds B's targets only, even
		// with the same destinations as A's.
		var bID string
		for id := range ownB {
			bID = id
			break
		}
		st.ok(t, request{method: "POST", path: "/v1.0/outdials/" + bID + "/targets", token: tokB,
			body: `{"targets":[{"destination":{"type":"tel","target":"+15550001111"}}]}`}, &imp)
		for _, status := range []string{"", "idle"} {
			q := "page_size=100"
			if status != "" {
				q += "&status=" + status
			}
			var l list[targetJSON]
			st.ok(t, request{method: "GET", path: "/v1.0/outdials/" + bID + "/targets", token: tokB, query: q}, &l)
			if len(l.Result) != 1 || l.Result[0].OutdialID != bID {
				t.Errorf("B's targets (status %q) = %+v, want B's one target", status, l.Result)
			}
		}
	})

	t.Run("page tokens are bound to the customer and the list", func(t *testing.T) {
		var l list[outdialJSON]
		st.ok(t, request{method: "GET", path: "/v1.0/outdials", token: tokA, query: "page_size=1"}, &l)
		outdialsTok := l.NextPageToken
		if outdialsTok == "" {
			t.Fatal("A's first outdial page has no next_page_token")
		}
		// A second target list of A, to present tokens of one list to another.
		var odA2 outdialJSON
		st.ok(t, request{method: "POST", path: "/v1.0/outdials", token: tokA, body: `{"name":"A's second"}`}, &odA2)
		st.ok(t, request{method: "POST", path: "/v1.0/outdials/" + odA2.ID + "/targets", token: tokA,
			body: `{"targets":[{"destination":{"type":"tel","target":"+15550002222"}},{"destination":{"type":"tel","target":"+15550003333"}}]}`}, &imp)
		var tl list[targetJSON]
		st.ok(t, request{method: "GET", path: "/v1.0/outdials/" + odA.ID + "/targets", token: tokA, query: "page_size=1"}, &tl)
		targetsTok := tl.NextPageToken
		if targetsTok == "" {
			t.Fatal("A's first target page has no next_page_token")
		}
		flipped := []byte(outdialsTok)
		flipped[2] ^= 1
		var bID string
		var lb list[outdialJSON]
		st.ok(t, request{method: "GET", path: "/v1.0/outdials", token: tokB, query: "page_size=1"}, &lb)
		bID = lb.Result[0].ID

		tests := []struct {
			name, tok, path, query string
		}{
			{"B presents A's outdials token", tokB, "/v1.0/outdials", "page_token=" + outdialsTok},
			{"B presents A's targets token on A's outdial", tokB, "/v1.0/outdials/" + odA.ID + "/targets", "page_token=" + targetsTok},
			{"B presents A's targets token on B's outdial", tokB, "/v1.0/outdials/" + bID + "/targets", "page_token=" + targetsTok},
			{"A's targets token on A's other outdial", tokA, "/v1.0/outdials/" + odA2.ID + "/targets", "page_token=" + targetsTok},
			{"A's targets token with a status filter", tokA, "/v1.0/outdials/" + odA.ID + "/targets", "status=idle&page_token=" + targetsTok},
			{"A's outdials token on a targets list", tokA, "/v1.0/outdials/" + odA.ID + "/targets", "page_token=" + outdialsTok},
			{"A's targets token on the outdials list", tokA, "/v1.0/outdials", "page_token=" + targetsTok},
			{"tampered token", tokA, "/v1.0/outdials", "page_token=" + string(flipped)},
			{"junk token", tokA, "/v1.0/outdials", "page_token=junk"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got := st.do(t, request{method: "GET", path: tt.path, token: tt.tok, query: tt.query})
				if got.status != http.StatusBadRequest {
					t.Fatalf("%d %s, want 400", got.status, got.body)
				}
				if e := got.errorBody(t); e.Error.Code != "invalid_page_token" || e.Error.Field != "page_token" {
					t.Errorf("error %+v, want invalid_page_token on page_token", e.Error)
				}
			})
		}
		// Control: the owners' own tokens work.
		st.ok(t, request{method: "GET", path: "/v1.0/outdials", token: tokA, query: "page_size=1&page_token=" + outdialsTok}, nil)
		st.ok(t, request{method: "GET", path: "/v1.0/outdials/" + odA.ID + "/targets", token: tokA, query: "page_size=1&page_token=" + targetsTok}, nil)
	})

	t.Run("read-only fields are rejected in bodies", func(t *testing.T) {
		before := snapshot(t, st)
		for _, r := range routes {
			base, ok := routeBodies[r.Method+" "+r.Path]
			if !ok {
				continue
			}
			path := fill(t, r.Path, idsA)
			for _, field := range readOnlyFields {
				if r.Path == "/v1.0/outdials/{id}/targets/delete" && (field == "status" || field == "reason") {
					continue // there they are the filter of what to delete
				}
				var body map[string]any
				if err := json.Unmarshal([]byte(base), &body); err != nil {
					t.Fatal(err)
				}
				body[field] = readOnlyValue(field, custB)
				b, _ := json.Marshal(body)
				got := st.do(t, request{method: r.Method, path: path, token: tokA, body: string(b)})
				name := fmt.Sprintf("%s %s with %s", r.Method, r.Path, field)
				if got.status != http.StatusBadRequest {
					t.Errorf("%s: %d %s, want 400 unknown_field", name, got.status, got.body)
					continue
				}
				if e := got.errorBody(t); e.Error.Code != "unknown_field" || e.Error.Field != field {
					t.Errorf("%s: error %+v, want unknown_field on %s", name, e.Error, field)
				}
			}
		}
		// The batch form: a read-only field at the top level is a 400; in
		// one target it rejects that target (200, listed in
		// rejected_targets with code unknown_field), and nothing is stored.
		path := "/v1.0/outdials/" + odA.ID + "/targets"
		for _, field := range readOnlyFields {
			top := fmt.Sprintf(`{"targets":[{"destination":{"type":"tel","target":"+15550004444"}}],%q:%s}`, field, mustJSON(readOnlyValue(field, custB)))
			got := st.do(t, request{method: "POST", path: path, token: tokA, body: top})
			if got.status != http.StatusBadRequest || got.errorBody(t).Error.Code != "unknown_field" {
				t.Errorf("batch with top-level %s: %d %s, want 400 unknown_field", field, got.status, got.body)
			}
			inner := fmt.Sprintf(`{"targets":[{"destination":{"type":"tel","target":"+15550004444"},%q:%s}]}`, field, mustJSON(readOnlyValue(field, custB)))
			var res importJSON
			st.ok(t, request{method: "POST", path: path, token: tokA, body: inner}, &res)
			if res.Created != 0 || res.Rejected != 1 || len(res.RejectedTargets) != 1 || res.RejectedTargets[0].Code != "unknown_field" || res.RejectedTargets[0].Field != field {
				t.Errorf("batch with %s in a target = %+v, want it rejected with unknown_field on %s", field, res, field)
			}
		}
		// CSV has no way to set them: unknown columns go to data.
		sameSnapshot(t, "bodies with read-only fields", before, snapshot(t, st))
	})

	// The webhook has no id in its path: it is the caller's. Another
	// customer's calls reach their own (none), answer exactly as for a
	// customer without one, and change nothing of A's.
	type hookJSON struct {
		URI        string   `json:"uri"`
		EventTypes []string `json:"event_types"`
		Secret     string   `json:"secret"`
	}
	var hookA, hookB hookJSON
	t.Run("another customer's webhook is no webhook", func(t *testing.T) {
		// outdial_deleted only: nothing in the sweep deletes an outdial of
		// A's, so nothing is delivered to this unroutable host.
		st.ok(t, request{method: "PUT", path: "/v1.0/webhook", token: tokA,
			body: `{"uri":"https://hooks.example.com/a","event_types":["outdial_deleted"]}`}, &hookA)
		if hookA.Secret == "" {
			t.Fatalf("A's PUT answered no secret: %+v", hookA)
		}
		custC := uuid.NewString() // has never had a webhook
		tokC := st.token(t, custC, time.Hour)
		before := snapshot(t, st)
		n := 0
		for _, r := range routes {
			if !strings.HasPrefix(r.Path, "/v1.0/webhook") || r.Method == "PUT" {
				continue
			}
			n++
			body := routeBodies[r.Method+" "+r.Path]
			asB := st.do(t, request{method: r.Method, path: r.Path, token: tokB, body: body})
			asC := st.do(t, request{method: r.Method, path: r.Path, token: tokC, body: body})
			name := r.Method + " " + r.Path
			if asB.status != http.StatusNotFound || asC.status != http.StatusNotFound {
				t.Errorf("%s as B: %d %s, as C: %d %s; want 404 for both (neither has a webhook)", name, asB.status, asB.body, asC.status, asC.body)
				continue
			}
			if got, want := normalised(t, asB), normalised(t, asC); got != want || got.Error.Code != "not_found" {
				t.Errorf("%s: B (A has a webhook) answers %+v, C %+v; want the same not_found", name, got, want)
			}
			if strings.Contains(string(asB.body), "hooks.example.com") || strings.Contains(string(asB.body), custA) {
				t.Errorf("%s: B's answer names A's webhook or customer: %s", name, asB.body)
			}
		}
		if n != 4 {
			t.Errorf("found %d webhook routes besides PUT, want GET, DELETE, rotate and test", n)
		}
		sameSnapshot(t, "another customer's webhook requests", before, snapshot(t, st))

		// B's own webhook is B's: A's stays as it was, secret included.
		st.ok(t, request{method: "PUT", path: "/v1.0/webhook", token: tokB,
			body: `{"uri":"https://hooks.example.com/b","event_types":["outdial_deleted"]}`}, &hookB)
		if hookB.Secret == "" || hookB.Secret == hookA.Secret {
			t.Errorf("B's webhook has secret %.12s..., want one of its own", hookB.Secret)
		}
		var gotA, againA hookJSON
		st.ok(t, request{method: "GET", path: "/v1.0/webhook", token: tokA}, &gotA)
		if gotA.URI != hookA.URI || gotA.Secret != "" {
			t.Errorf("A's webhook after B's calls = %+v, want %s without its secret", gotA, hookA.URI)
		}
		st.ok(t, request{method: "PUT", path: "/v1.0/webhook", token: tokA,
			body: `{"uri":"https://hooks.example.com/a","event_types":["outdial_deleted"]}`}, &againA)
		if againA.Secret != hookA.Secret {
			t.Error("A's secret changed: another customer's rotate reached it")
		}
		for _, tok := range []string{tokA, tokB} {
			st.ok(t, request{method: "DELETE", path: "/v1.0/webhook", token: tok}, nil)
		}
	})

	t.Run("logs hold no token or destination", func(t *testing.T) {
		logs := st.Logs()
		if !strings.Contains(logs, `"status":403`) {
			t.Fatalf("the gateway logged no 403; is the log capture working?")
		}
		for _, tok := range []string{tokA, tokB} {
			for _, part := range strings.Split(tok, ".") {
				if strings.Contains(logs, part) {
					t.Errorf("logs contain part of a token: %.40s...", part)
				}
			}
		}
		for _, dest := range []string{"15550001111", "a.person@example.com", "15550002222", "15550009999"} {
			if strings.Contains(logs, dest) {
				t.Errorf("logs contain the destination %s", dest)
			}
		}
		for _, secret := range []string{hookA.Secret, hookB.Secret} {
			if secret != "" && strings.Contains(logs, secret) {
				t.Errorf("logs contain a webhook secret")
			}
		}
		if strings.Contains(logs, "whsec_") {
			t.Errorf("logs contain something like a webhook secret (whsec_)")
		}
	})
}

// readOnlyValue is a plausible value for a read-only field: what an
// attacker would send.
func readOnlyValue(field, customer string) any {
	switch field {
	case "customer_id":
		return customer
	case "id", "outdial_id", "attempt_id":
		return uuid.NewString()
	case "status":
		return "finished"
	case "try_count_current", "target_count":
		return 0
	case "target_counts":
		return map[string]int{"finished": 1}
	default:
		return "2020-01-01T00:00:00Z"
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
