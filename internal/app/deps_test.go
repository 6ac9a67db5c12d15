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
	phoneNumbers  = "github.com/nyaruka/phonenumbers"
	dynamoDBSDK   = "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	sqsSDK        = "github.com/aws/aws-sdk-go-v2/service/sqs"
	awsConfigSDK  = "github.com/aws/aws-sdk-go-v2/config"
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
// suppression-list functions (list-suppressions shares their package).
// The others, claim-targets included, must not: a target's time zones are
// worked out at import and stored.
var normalisers = map[string]bool{
	"add-targets": true, "add-suppressions": true, "check-suppressions": true,
	"delete-suppressions": true, "list-suppressions": true,
}

// TestFunctionDeps checks that each function links only what it needs:
// the authorizer no AWS service client, no AWS config and no
// libphonenumber; only the normalisers libphonenumber (destination
// normalisation); only the functions of the purge queue the SQS client.
func TestFunctionDeps(t *testing.T) {
	deps := functionDeps(t)
	if len(deps) < 23 {
		t.Fatalf("go list found %d functions, want 23 or more", len(deps))
	}
	for name, d := range deps {
		for _, pkg := range []string{modulePrefix + "internal/localrun", modulePrefix + "internal/api"} {
			if slices.Contains(d, pkg) {
				t.Errorf("%s links %s, which holds every function's handler", name, pkg)
			}
		}
		if got, want := linksPackage(d, phoneNumbers), normalisers[name]; got != want {
			t.Errorf("%s: links %s = %v, want %v (only add-targets and the suppression functions normalise addresses)", name, phoneNumbers, got, want)
		}
		if got, want := linksPackage(d, modulePrefix+"internal/destination"), normalisers[name]; got != want {
			t.Errorf("%s: links internal/destination = %v, want %v", name, got, want)
		}
		// delete-outdial sends to the purge queue; purge-targets links the
		// SDK through internal/purge, whose Queue is beside its Processor.
		if got, want := linksPackage(d, sqsSDK), name == "delete-outdial" || name == "purge-targets"; got != want {
			t.Errorf("%s: links %s = %v, want %v", name, sqsSDK, got, want)
		}
		if got, want := linksPackage(d, dynamoDBSDK), name != "authorizer"; got != want {
			t.Errorf("%s: links %s = %v, want %v", name, dynamoDBSDK, got, want)
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
