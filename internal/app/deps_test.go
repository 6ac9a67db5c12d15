package app_test

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/outdial/outdial/internal/localstack"
)

// Packages whose linking is limited to the functions that use them.
const (
	phoneNumbers  = modulePrefix + "internal/phonenumbers"
	dynamoDBSDK   = "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	sqsSDK        = "github.com/aws/aws-sdk-go-v2/service/sqs"
	awsConfigSDK  = "github.com/aws/aws-sdk-go-v2/config"
	stsSDK        = "github.com/aws/aws-sdk-go-v2/service/sts"
	ssoSDK        = "github.com/aws/aws-sdk-go-v2/service/sso"
	modulePrefix  = "github.com/outdial/outdial/"
	functionsPath = modulePrefix + "functions/"
)

// functionDeps returns, by function name, every package each
// functions/<name> links, as `go list -deps` sees them for the Lambda
// build (linux/arm64, -tags lambda.norpc).
func functionDeps(t *testing.T) map[string][]string {
	t.Helper()
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-tags", "lambda.norpc", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "./functions/...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		name, ok := strings.CutPrefix(fields[0], functionsPath)
		if !ok {
			t.Fatalf("go list: unexpected package %s", fields[0])
		}
		deps[name] = fields[1:]
	}
	return deps
}

// linksPackage reports whether deps hold pkg or a package under it.
func linksPackage(deps []string, pkg string) bool {
	return slices.ContainsFunc(deps, func(d string) bool { return d == pkg || strings.HasPrefix(d, pkg+"/") })
}

// normalisers are the functions that normalise addresses (package
// internal/destination), and so link libphonenumber: add-targets and the
// suppression functions that take addresses (add, check, delete);
// list-suppressions reads them as stored (package suppressionlist).
// The others, claim-targets included, must not: a target's time zones are
// worked out at import and stored.
var normalisers = map[string]bool{
	"add-targets": true, "add-suppressions": true, "check-suppressions": true,
	"delete-suppressions": true,
}

// sqsUsers are the functions that link the SQS client: those of the
// purge queue (delete-outdial sends to it; purge-targets links the SDK
// through internal/purge, whose Queue is beside its Processor), the
// outcome processor (it makes outcomes it could not apply in time visible
// again early) and those of
// the webhook delivery queue (issue 15): publish-events and test-webhook
// send to it, deliver-webhooks changes the visibility of failed
// deliveries. The other webhook routes link it too, without using it:
// their handlers are built by internal/app/webhookfns, which builds the
// delivery queue's client (internal/app/deliveryenv, publish.SQS) for
// test-webhook.
var sqsUsers = map[string]bool{
	"delete-outdial": true, "purge-targets": true, "process-outcomes": true,
	"publish-events": true, "deliver-webhooks": true, "test-webhook": true,
	"put-webhook": true, "get-webhook": true, "delete-webhook": true, "rotate-webhook": true,
}

// eventsUsers are the functions that link the stream and delivery code of
// issue 15 (internal/publish, internal/deliver): the two functions of the
// pipeline and, through internal/app/webhookfns, the webhook routes.
var eventsUsers = map[string]bool{
	"publish-events": true, "deliver-webhooks": true, "test-webhook": true,
	"put-webhook": true, "get-webhook": true, "delete-webhook": true, "rotate-webhook": true,
}

// TestFunctionDeps checks that each function links only what it needs:
// the authorizer no AWS service client, no AWS config and no
// libphonenumber; no function the SDK's default configuration chain; only
// the normalisers libphonenumber (destination normalisation); only the
// functions of the purge and delivery queues the SQS client; only the
// webhook functions the publisher and the deliverer.
func TestFunctionDeps(t *testing.T) {
	deps := functionDeps(t)
	if len(deps) < 30 {
		t.Fatalf("go list found %d functions, want 30 or more", len(deps))
	}
	for name, d := range deps {
		for _, pkg := range []string{modulePrefix + "internal/localrun", modulePrefix + "internal/api"} {
			if slices.Contains(d, pkg) {
				t.Errorf("%s links %s, which holds every function's handler", name, pkg)
			}
		}
		// The functions link our copy of libphonenumber, without the
		// protobuf runtime and the geocoding and carrier tables
		// (internal/phonenumbers/README.md), never the library itself.
		for _, pkg := range []string{"github.com/nyaruka/phonenumbers", "google.golang.org/protobuf", "golang.org/x/text/language/display"} {
			if linksPackage(d, pkg) {
				t.Errorf("%s links %s", name, pkg)
			}
		}
		if got, want := linksPackage(d, phoneNumbers), normalisers[name]; got != want {
			t.Errorf("%s: links %s = %v, want %v (only add-targets and the suppression functions normalise addresses)", name, phoneNumbers, got, want)
		}
		if got, want := linksPackage(d, modulePrefix+"internal/destination"), normalisers[name]; got != want {
			t.Errorf("%s: links internal/destination = %v, want %v", name, got, want)
		}
		if got, want := linksPackage(d, sqsSDK), sqsUsers[name]; got != want {
			t.Errorf("%s: links %s = %v, want %v", name, sqsSDK, got, want)
		}
		for _, pkg := range []string{modulePrefix + "internal/publish", modulePrefix + "internal/deliver"} {
			if got, want := linksPackage(d, pkg), eventsUsers[name]; got != want {
				t.Errorf("%s: links %s = %v, want %v (only the webhook functions)", name, pkg, got, want)
			}
		}
		if got, want := linksPackage(d, dynamoDBSDK), name != "authorizer"; got != want {
			t.Errorf("%s: links %s = %v, want %v", name, dynamoDBSDK, got, want)
		}
		// Region and credentials come from Lambda's variables
		// (storeenv.LambdaConfig), not the SDK's default chain.
		for _, pkg := range []string{awsConfigSDK, stsSDK, ssoSDK} {
			if linksPackage(d, pkg) {
				t.Errorf("%s links %s (storeenv.LambdaConfig reads what Lambda sets)", name, pkg)
			}
		}
	}
	authz := deps["authorizer"]
	for _, pkg := range []string{phoneNumbers, dynamoDBSDK, sqsSDK, awsConfigSDK, modulePrefix + "internal/dynamo", modulePrefix + "internal/outdial"} {
		if linksPackage(authz, pkg) {
			t.Errorf("the authorizer links %s; it needs internal/auth only", pkg)
		}
	}
	if !slices.Contains(authz, modulePrefix+"internal/auth") {
		t.Errorf("the authorizer does not link internal/auth")
	}
}
