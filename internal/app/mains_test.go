package app_test

import (
	"bytes"
	"context"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/app/storeenv"
	"github.com/outdial/outdial/internal/invoke"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/samtemplate"
)

// initRun is one start of a function's bootstrap outside Lambda.
type initRun struct {
	out    string // standard output and error
	passed bool   // init succeeded: lambda.Start looked for the runtime API
}

// startBootstrap runs the bootstrap at path with exactly env (plus a HOME
// of its own, so that no shared AWS config file is read) and no Lambda
// runtime API. A main whose init succeeds reaches lambda.Start, which
// exits because AWS_LAMBDA_RUNTIME_API is not set; one whose init fails
// exits first, through app.Exit.
func startBootstrap(t *testing.T, path string, env map[string]string) initRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path)
	cmd.Env = []string{"HOME=" + t.TempDir()}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err == nil {
		t.Fatalf("%s exited 0 outside Lambda:\n%s", filepath.Base(filepath.Dir(path)), out.String())
	}
	if ctx.Err() != nil {
		t.Fatalf("%s did not exit within 30 s:\n%s", filepath.Base(filepath.Dir(path)), out.String())
	}
	return initRun{out: out.String(), passed: strings.Contains(out.String(), "expected AWS Lambda environment variables")}
}

// initFailure returns the "init failed" record of run, failing t unless
// there is one for function.
func initFailure(t *testing.T, function string, run initRun) map[string]any {
	t.Helper()
	if run.passed {
		t.Fatalf("%s passed its init:\n%s", function, run.out)
	}
	for _, r := range records(t, []byte(strings.TrimSpace(run.out)+"\n")) {
		if r["message"] == "init failed" {
			if r["function"] != function {
				t.Errorf("init failure of %s logged as function %v", function, r["function"])
			}
			return r
		}
	}
	t.Fatalf("%s logged no init failure:\n%s", function, run.out)
	return nil
}

// TestMains runs every function's real main (the bootstrap, built for this
// machine) with the environment the template gives it, and with that
// environment broken: each main must check its own configuration as the
// local runner's table does (app_test.go) and report a bad one as an init
// error naming the variable and the function, without quoting a secret.
// The authorizer must initialise no libphonenumber and no AWS SDK.
func TestMains(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every function's bootstrap")
	}
	tpl := template(t)
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var fns []*samtemplate.Function
	for _, id := range slices.Sorted(maps.Keys(tpl.Functions)) {
		fns = append(fns, tpl.Functions[id])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bootstraps, err := invoke.Build(ctx, root, t.TempDir(), fns...)
	if err != nil {
		t.Fatal(err)
	}
	kind := kinds(t, tpl)
	for _, f := range fns {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			path := bootstraps[f.Name]

			// The template's environment: the init passes.
			if run := startBootstrap(t, path, templateEnv(t, tpl, f, nil)); !run.passed {
				t.Fatalf("init with the template's environment failed:\n%s", run.out)
			}

			// Each variable it checks, missing or wrong.
			type broken struct {
				name, variable, value string // value "" deletes the variable
			}
			var cases []broken
			if _, ok := f.Env[app.EnvTokenSecret]; ok {
				cases = append(cases, broken{"no token secret", app.EnvTokenSecret, ""}, broken{"short token secret", app.EnvTokenSecret, "too-short-secret"})
			}
			if kind[f.Name] != "authorizer" {
				cases = append(cases, broken{"no table", app.EnvTableName, ""},
					broken{"no region", storeenv.EnvRegion, ""}, broken{"no access key", storeenv.EnvAccessKeyID, ""},
					broken{"no secret key", storeenv.EnvSecretAccessKey, ""})
			} else {
				cases = append(cases, broken{"lifetime too short", app.EnvMaxTokenLifetime, "59"}, broken{"lifetime not a number", app.EnvMaxTokenLifetime, "30d"})
			}
			if _, ok := f.Env[app.EnvLeaseGrace]; ok {
				cases = append(cases, broken{"lease grace too long", app.EnvLeaseGrace, "3601"})
			}
			if _, ok := f.Env[app.EnvPurgeQueueURL]; ok {
				cases = append(cases, broken{"no purge queue", app.EnvPurgeQueueURL, ""})
			}
			if _, ok := f.Env[app.EnvOutcomeQueueURL]; ok {
				cases = append(cases, broken{"no outcome queue", app.EnvOutcomeQueueURL, ""})
			}
			// The webhook functions (issue 15).
			if _, ok := f.Env[app.EnvDeliveryQueueURL]; ok {
				cases = append(cases, broken{"no delivery queue", app.EnvDeliveryQueueURL, ""})
			}
			if _, ok := f.Env[app.EnvLocalWebhooks]; ok {
				cases = append(cases, broken{"local webhooks not a boolean", app.EnvLocalWebhooks, "yes"})
			}
			if _, ok := f.Env[app.EnvWebhookRetryHours]; ok {
				cases = append(cases, broken{"retry window too long", app.EnvWebhookRetryHours, "337"})
			}
			if _, ok := f.Env[app.EnvWebhookBackoffSeconds]; ok {
				cases = append(cases, broken{"no backoff", app.EnvWebhookBackoffSeconds, "0"})
			}
			for _, c := range cases {
				env := templateEnv(t, tpl, f, map[string]string{c.variable: c.value})
				if c.value == "" {
					delete(env, c.variable)
				}
				rec := initFailure(t, f.Name, startBootstrap(t, path, env))
				msg, _ := rec["err"].(string)
				if !strings.Contains(msg, c.variable) || !strings.HasPrefix(msg, "init "+f.Name+": ") {
					t.Errorf("%s: init error %q, want it to start with %q and name %s", c.name, msg, "init "+f.Name+": ", c.variable)
				}
				if c.variable == app.EnvTokenSecret && c.value != "" && strings.Contains(msg, c.value) {
					t.Errorf("%s: init error %q quotes the secret", c.name, msg)
				}
			}

			// What the authorizer initialises at each cold start.
			if kind[f.Name] == "authorizer" {
				env := templateEnv(t, tpl, f, map[string]string{"GODEBUG": "inittrace=1"})
				run := startBootstrap(t, path, env)
				if !run.passed || !strings.Contains(run.out, "init github.com/golang-jwt/jwt/v5 @") {
					t.Fatalf("no init trace of the authorizer:\n%s", run.out)
				}
				for _, pkg := range []string{phoneNumbers, "github.com/aws/aws-sdk-go-v2", "google.golang.org/protobuf"} {
					if strings.Contains(run.out, "init "+pkg) {
						t.Errorf("the authorizer initialises %s:\n%s", pkg, run.out)
					}
				}
			}
		})
	}
}
