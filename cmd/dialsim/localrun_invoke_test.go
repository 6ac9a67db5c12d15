package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// TestLocalStackInvokeAnswerKept checks that an answer of a function of
// the local stack the simulator runs against stays intact when the
// function is invoked again. One lambda.Handler per
// function would hand out bytes aws-lambda-go has already put back in
// its buffer pool, so the next invocation would write over them (the stack
// now builds a handler per invocation). The gateway invokes functions from
// concurrent HTTP requests, so one request can read another's answer (an
// authorizer's customer_id, a response body) while it is being written:
// `go test -race` reports it in internal/localrun.(*Gateway).authorize
// under the simulator's load. Here two invocations in a row show it
// without a race.
func TestLocalStackInvokeAnswerKept(t *testing.T) {
	st := startStack(t)
	fn := st.Functions["authorizer"]
	if fn == nil {
		t.Fatal("the local stack has no function authorizer")
	}
	invoke := func(customer string) []byte {
		token, err := st.Token(customer, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(events.APIGatewayV2CustomAuthorizerV2Request{
			Type: "REQUEST", RouteKey: "GET /v1.0/outdials", Headers: map[string]string{"authorization": "Bearer " + token},
		})
		out, err := fn.Invoke(context.Background(), payload)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	customerOf := func(out []byte) string {
		var res events.APIGatewayV2CustomAuthorizerSimpleResponse
		if err := json.Unmarshal(out, &res); err != nil {
			return fmt.Sprintf("undecodable answer %q", out)
		}
		return fmt.Sprint(res.Context["customer_id"])
	}

	const a, b = "1a2b3c4d-0000-4000-8000-00000000000a", "1a2b3c4d-0000-4000-8000-00000000000b"
	first := invoke(a)
	if got := customerOf(first); got != a {
		t.Fatalf("first answer: customer %s, want %s", got, a)
	}
	invoke(b)
	if got := customerOf(first); got != a {
		t.Errorf("after a second invocation the first answer reads customer %s, want %s", got, a)
	}
}
