package localrun_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/localrun"
	"github.com/outdial/outdial/internal/localruntest"
	"github.com/outdial/outdial/internal/localstack"
)

// TestStackHonoursMaxTokenLifetime checks that the local stack's
// authorizer gets the template's MaxTokenLifetimeSeconds: overridden to an
// hour, a token minted for an hour is let in and one minted for two hours
// is answered 403, as API Gateway answers an authorizer's deny.
func TestStackHonoursMaxTokenLifetime(t *testing.T) {
	st := startStackWith(t, localruntest.Options{Parameters: map[string]string{"MaxTokenLifetimeSeconds": "3600"}})
	customer := uuid.NewString()
	if r := st.do(t, request{method: "GET", path: "/v1.0/outdials", token: st.token(t, customer, time.Hour)}); r.status != http.StatusOK {
		t.Errorf("token for 1 h (the maximum): %s, want 200", r)
	}
	if r := st.do(t, request{method: "GET", path: "/v1.0/outdials", token: st.token(t, customer, 2*time.Hour)}); r.status != http.StatusForbidden {
		t.Errorf("token for 2 h (over the maximum of 1 h): %s, want 403", r)
	}
}

// TestMaxTokenLifetimeOverride checks that an override of
// MaxTokenLifetimeSeconds is held to the template's bounds.
func TestMaxTokenLifetimeOverride(t *testing.T) {
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for value, want := range map[string]string{"59": "below its MinValue", "31536001": "above its MaxValue", "30d": "not a number"} {
		_, err := localrun.Provision(context.Background(), localrun.ProvisionOptions{
			Root: root, Parameters: map[string]string{"MaxTokenLifetimeSeconds": value}, DynamoDBEndpoint: "http://127.0.0.1:1", NoSQS: true,
		})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Provision with MaxTokenLifetimeSeconds %q: %v, want an error containing %q", value, err, want)
		}
	}
}
