package samtemplate_test

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/localrun"
	"github.com/outdial/outdial/internal/samtemplate"
)

// repoRoot is the repository root, relative to this package.
const repoRoot = "../.."

// loadRepo loads the project's template.yaml.
func loadRepo(t *testing.T) *samtemplate.Template {
	t.Helper()
	tpl, err := samtemplate.LoadRepo()
	if err != nil {
		t.Fatalf("LoadRepo: %v", err)
	}
	return tpl
}

// pascal turns a kebab-case name into PascalCase: create-outdial ->
// CreateOutdial.
func pascal(name string) string {
	var b strings.Builder
	for _, part := range strings.Split(name, "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// TestFunctionDirs checks that each template function names a directory
// whose main.go is that function's (see checkMain), that its logical id
// follows from the name, and that every directory under functions/ is in
// the template.
func TestFunctionDirs(t *testing.T) {
	tpl := loadRepo(t)
	byDir := map[string]string{}
	for id, f := range tpl.Functions {
		if want := pascal(f.Name) + "Function"; id != want {
			t.Errorf("function %s (%s): logical id should be %s", id, f.Dir, want)
		}
		if want := "functions/" + f.Name; f.Dir != want {
			t.Errorf("function %s: Dir %q, want %q", id, f.Dir, want)
		}
		if other, dup := byDir[f.Dir]; dup {
			t.Errorf("functions %s and %s share Dir %s", other, id, f.Dir)
		}
		byDir[f.Dir] = id

		checkMain(t, f)
	}

	entries, err := os.ReadDir(filepath.Join(repoRoot, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			if _, ok := byDir["functions/"+e.Name()]; !ok {
				t.Errorf("functions/%s has no function in template.yaml", e.Name())
			}
		}
	}
}

// mainOnlyImports are the packages a Lambda main must not import: the
// local runner's table of every function and the package of every HTTP
// route, either of which would link every handler into one function.
var mainOnlyImports = []string{
	"github.com/outdial/outdial/internal/localrun",
	"github.com/outdial/outdial/internal/api",
}

// checkMain checks functions/<name>/main.go of f: package main, a constant
// name equal to the function's name (what its init errors are logged
// with), exactly one lambda.Start call (on the handler it builds), and
// none of mainOnlyImports. Which packages each function links is checked
// by internal/app's TestFunctionDeps.
func checkMain(t *testing.T, f *samtemplate.Function) {
	t.Helper()
	path := filepath.Join(repoRoot, f.Dir, "main.go")
	file, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Errorf("function %s: %v", f.LogicalID, err)
		return
	}
	if file.Name.Name != "main" {
		t.Errorf("%s/main.go: package %s, want main", f.Dir, file.Name.Name)
	}
	lambdaName := ""
	for _, imp := range file.Imports {
		p := strings.Trim(imp.Path.Value, `"`)
		if p == "github.com/aws/aws-lambda-go/lambda" {
			lambdaName = "lambda"
			if imp.Name != nil {
				lambdaName = imp.Name.Name
			}
		}
		for _, bad := range mainOnlyImports {
			if p == bad {
				t.Errorf("%s/main.go imports %s", f.Dir, p)
			}
		}
	}
	starts, name := 0, ""
	ast.Inspect(file, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Start" {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == lambdaName {
					starts++
				}
			}
		case *ast.ValueSpec:
			for i, id := range n.Names {
				if id.Name == "name" && i < len(n.Values) {
					if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						name = strings.Trim(lit.Value, `"`)
					}
				}
			}
		}
		return true
	})
	if starts != 1 {
		t.Errorf("%s/main.go: got %d lambda.Start calls, want 1", f.Dir, starts)
	}
	if name != f.Name {
		t.Errorf("%s/main.go: const name = %q, want %q", f.Dir, name, f.Name)
	}
}

// TestFunctionsMatchLocalRunner checks that the template and the local
// runner's table (localrun.Names, what make run serves) list the same
// function names, each once.
func TestFunctionsMatchLocalRunner(t *testing.T) {
	tpl := loadRepo(t)
	count := map[string]int{}
	for _, f := range tpl.Functions {
		count[f.Name]++
	}
	for _, name := range localrun.Names() {
		if count[name] != 1 {
			t.Errorf("local runner function %q: %d template functions, want 1", name, count[name])
		}
		delete(count, name)
	}
	for name := range count {
		t.Errorf("template function %q is not in localrun.Names()", name)
	}
}

// TestBuildTargets checks that build.mk has a sam build target for every
// function, building that function's directory, and no other.
func TestBuildTargets(t *testing.T) {
	tpl := loadRepo(t)
	mk, err := os.ReadFile(filepath.Join(repoRoot, "build.mk"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	re := regexp.MustCompile(`(?m)^\$\(eval \$\(call lambda_function,([A-Za-z0-9]+),([a-z0-9-]+)\)\)$`)
	for _, m := range re.FindAllSubmatch(mk, -1) {
		got[string(m[1])] = "functions/" + string(m[2])
	}
	want := map[string]string{}
	for id, f := range tpl.Functions {
		want[id] = f.Dir
		if bm := f.Metadata["BuildMethod"]; bm != "makefile" {
			t.Errorf("function %s: Metadata.BuildMethod %v, want makefile", id, bm)
		}
		if uri := f.Properties["CodeUri"]; uri != "." {
			t.Errorf("function %s: CodeUri %v, want . (the root go.mod)", id, uri)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("build.mk targets:\n got %v\nwant %v", got, want)
	}
}

// TestGlobals checks the runtime settings every function gets.
func TestGlobals(t *testing.T) {
	tpl := loadRepo(t)
	for id, f := range tpl.Functions {
		p := f.Properties
		if p["Runtime"] != "provided.al2023" {
			t.Errorf("%s: Runtime %v, want provided.al2023", id, p["Runtime"])
		}
		if !reflect.DeepEqual(p["Architectures"], []any{"arm64"}) {
			t.Errorf("%s: Architectures %v, want [arm64]", id, p["Architectures"])
		}
		if p["Handler"] != "bootstrap" {
			t.Errorf("%s: Handler %v, want bootstrap", id, p["Handler"])
		}
		// Overrides are fine within bounds: API Gateway gives up on an
		// integration after 30 s, so an HTTP function must finish sooner.
		maxTimeout := 29
		if !hasEvent(f, samtemplate.EventHTTPAPI) {
			maxTimeout = 900
		}
		if f.Timeout < 3 || f.Timeout > maxTimeout || f.MemorySize < 128 || f.MemorySize > 3008 {
			t.Errorf("%s: Timeout %d MemorySize %d, want 3..%d s and 128..3008 MB", id, f.Timeout, f.MemorySize, maxTimeout)
		}
		if lf := p["LoggingConfig"]; !reflect.DeepEqual(lf, map[string]any{"LogFormat": "JSON"}) {
			t.Errorf("%s: LoggingConfig %v, want LogFormat JSON", id, lf)
		}
	}
}

// TestEnvironment checks each function's variables: the table and log
// level everywhere, the token secrets only where tokens are verified or
// page tokens sealed, and never the local-only DynamoDB endpoint.
func TestEnvironment(t *testing.T) {
	tpl := loadRepo(t)
	auth := tpl.Authorizer()
	for id, f := range tpl.Functions {
		if got := f.Env[app.EnvTableName]; !reflect.DeepEqual(got, map[string]any{"Ref": "Table"}) {
			t.Errorf("%s: %s = %v, want !Ref Table", id, app.EnvTableName, got)
		}
		if got := f.Env[app.EnvLogLevel]; !reflect.DeepEqual(got, map[string]any{"Ref": "LogLevel"}) {
			t.Errorf("%s: %s = %v, want !Ref LogLevel", id, app.EnvLogLevel, got)
		}
		if _, ok := f.Env[app.EnvDynamoDBEndpoint]; ok {
			t.Errorf("%s: sets %s, which is for local runs only", id, app.EnvDynamoDBEndpoint)
		}
		needsSecret := f == auth || strings.HasPrefix(f.Name, "list-")
		for v, param := range map[string]string{app.EnvTokenSecret: "TokenSecret", app.EnvTokenSecretPrev: "TokenSecretPrevious"} {
			got, ok := f.Env[v]
			switch {
			case needsSecret && !reflect.DeepEqual(got, map[string]any{"Ref": param}):
				t.Errorf("%s: %s = %v, want !Ref %s", id, v, got, param)
			case !needsSecret && ok:
				t.Errorf("%s: sets %s but neither verifies nor seals tokens", id, v)
			}
		}
	}

	// The lease grace goes to the functions that register and expire
	// leases, and only to them.
	for id, f := range tpl.Functions {
		got, ok := f.Env[app.EnvLeaseGrace]
		switch needsGrace := f.Name == "claim-targets" || f.Name == "expire-leases"; {
		case needsGrace && !reflect.DeepEqual(got, map[string]any{"Ref": "LeaseGraceSeconds"}):
			t.Errorf("%s: %s = %v, want !Ref LeaseGraceSeconds", id, app.EnvLeaseGrace, got)
		case !needsGrace && ok:
			t.Errorf("%s: sets %s but neither claims nor expires leases", id, app.EnvLeaseGrace)
		}
	}

	params, _ := tpl.Raw["Parameters"].(map[string]any)
	grace, _ := params["LeaseGraceSeconds"].(map[string]any)
	if grace["Type"] != "Number" || grace["Default"] != 60 || grace["MinValue"] != 0 || grace["MaxValue"] != 3600 {
		t.Errorf("LeaseGraceSeconds: got %v, want a Number, default 60, from 0 to 3600 (what internal/app accepts)", grace)
	}
	secret, _ := params["TokenSecret"].(map[string]any)
	if secret["NoEcho"] != true || secret["MinLength"] != 32 {
		t.Errorf("TokenSecret: got %v, want NoEcho and MinLength 32", secret)
	}
	if _, ok := secret["Default"]; ok {
		t.Error("TokenSecret must not have a default")
	}
	if prev, _ := params["TokenSecretPrevious"].(map[string]any); prev["NoEcho"] != true {
		t.Errorf("TokenSecretPrevious: got %v, want NoEcho", prev)
	}
}

// TestRoutes checks the HTTP API: every route has a function and the
// authorizer, no method and path twice, and each route of the API is
// served by its function.
func TestRoutes(t *testing.T) {
	tpl := loadRepo(t)
	seen := map[string]string{}
	for _, r := range tpl.Routes() {
		key := r.Method + " " + r.Path
		if r.Function == nil {
			t.Errorf("%s: no function", key)
			continue
		}
		if other, dup := seen[key]; dup {
			t.Errorf("%s: served by both %s and %s", key, other, r.Function.Name)
		}
		seen[key] = r.Function.Name
		if !r.Authorized {
			t.Errorf("%s (%s): not behind the authorizer", key, r.Function.Name)
		}
	}

	tests := []struct{ method, path, function string }{
		{"POST", "/v1.0/outdials", "create-outdial"},
		{"GET", "/v1.0/outdials", "list-outdials"},
		{"GET", "/v1.0/outdials/{id}", "get-outdial"},
		{"PUT", "/v1.0/outdials/{id}", "update-outdial"},
		{"PUT", "/v1.0/outdials/{id}/campaign_id", "update-outdial-campaign"},
		{"PUT", "/v1.0/outdials/{id}/data", "update-outdial-data"},
		{"DELETE", "/v1.0/outdials/{id}", "delete-outdial"},
		{"POST", "/v1.0/outdials/{id}/archive", "archive-outdial"},
		{"DELETE", "/v1.0/outdials/{id}/archive", "restore-outdial"},
		{"POST", "/v1.0/outdials/{id}/targets", "add-targets"},
		{"GET", "/v1.0/outdials/{id}/targets", "list-targets"},
		{"GET", "/v1.0/outdials/{id}/targets/{target_id}", "get-target"},
		{"DELETE", "/v1.0/outdials/{id}/targets/{target_id}", "delete-target"},
		{"POST", "/v1.0/outdials/{id}/targets/delete", "delete-targets"},
		{"POST", "/v1.0/outdials/{id}/targets/claim", "claim-targets"},
		{"POST", "/v1.0/suppressions", "add-suppressions"},
		{"POST", "/v1.0/suppressions/check", "check-suppressions"},
		{"POST", "/v1.0/suppressions/delete", "delete-suppressions"},
		{"GET", "/v1.0/suppressions", "list-suppressions"},
	}
	for _, tt := range tests {
		if got := seen[tt.method+" "+tt.path]; got != tt.function {
			t.Errorf("%s %s: served by %q, want %q", tt.method, tt.path, got, tt.function)
		}
	}
}

// TestSchedules checks the scheduled functions: expire-leases runs every
// minute, and a scheduled function runs one invocation at a time.
func TestSchedules(t *testing.T) {
	tpl := loadRepo(t)
	got := map[string][]string{}
	for id, f := range tpl.Functions {
		for _, ev := range f.Events {
			if ev.Type != samtemplate.EventScheduleV2 {
				continue
			}
			got[f.Name] = append(got[f.Name], ev.Schedule)
			if rc := f.Properties["ReservedConcurrentExecutions"]; rc != 1 {
				t.Errorf("%s: ReservedConcurrentExecutions %v, want 1 (runs must not overlap)", id, rc)
			}
			if len(f.Events) != 1 {
				t.Errorf("%s: %d events, want only its schedule", id, len(f.Events))
			}
		}
	}
	if want := map[string][]string{"expire-leases": {"rate(1 minute)"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("schedules %v, want %v", got, want)
	}
}

// TestAuthorizer checks the HTTP API's authorizer: the authorizer function,
// payload 2.0 with simple responses, no identity source (the token may be
// in the Authorization header or the token query parameter) and so no
// caching.
func TestAuthorizer(t *testing.T) {
	tpl := loadRepo(t)
	a := tpl.Authorizer()
	if a == nil || a.Name != "authorizer" {
		t.Fatalf("Authorizer: got %+v, want the authorizer function", a)
	}
	for _, ev := range a.Events {
		t.Errorf("the authorizer has event %s; it must not be routed to", ev.Name)
	}
	apis := tpl.Resources(samtemplate.TypeHTTPAPI)
	if len(apis) != 1 {
		t.Fatalf("got %d HTTP APIs, want 1", len(apis))
	}
	for id, api := range apis {
		auth, _ := api["Auth"].(map[string]any)
		name, _ := auth["DefaultAuthorizer"].(string)
		authorizers, _ := auth["Authorizers"].(map[string]any)
		cfg, _ := authorizers[name].(map[string]any)
		want := map[string]any{
			"AuthorizerPayloadFormatVersion":   "2.0",
			"EnableSimpleResponses":            true,
			"EnableFunctionDefaultPermissions": true,
			"Identity":                         map[string]any{"ReauthorizeEvery": 0},
		}
		for k, w := range want {
			if !reflect.DeepEqual(cfg[k], w) {
				t.Errorf("%s authorizer %s: %s = %v, want %v", id, name, k, cfg[k], w)
			}
		}
		if _, ok := api["CorsConfiguration"]; ok {
			t.Errorf("%s: has CorsConfiguration; the API is not for browsers", id)
		}
	}
}

// TestTableMatchesSchema checks that template.yaml declares the table that
// internal/dynamo creates.
func TestTableMatchesSchema(t *testing.T) {
	tpl := loadRepo(t)
	if got, want := tpl.Tables(), []string{"Table"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Tables: got %v, want %v", got, want)
	}
	got, err := tpl.TableInput("Table")
	if err != nil {
		t.Fatal(err)
	}
	got.TableName = aws.String("outdial-test")
	want := dynamo.CreateTableInput("outdial-test")
	normaliseTable(got)
	normaliseTable(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("template table differs from dynamo.CreateTableInput:\ntemplate %s\n  schema %s", jsonOf(got), jsonOf(want))
	}

	p := tpl.Resources(samtemplate.TypeTable)["Table"]
	if pitr, _ := p["PointInTimeRecoverySpecification"].(map[string]any); pitr["PointInTimeRecoveryEnabled"] != true {
		t.Error("Table: point-in-time recovery is not enabled")
	}
	if sse, _ := p["SSESpecification"].(map[string]any); sse["SSEEnabled"] != true {
		t.Error("Table: SSE is not enabled")
	}
	res, _ := tpl.Raw["Resources"].(map[string]any)
	table, _ := res["Table"].(map[string]any)
	for _, k := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
		if table[k] != "Retain" {
			t.Errorf("Table: %s = %v, want Retain", k, table[k])
		}
	}
}

// normaliseTable sorts the parts of in whose order DynamoDB ignores.
func normaliseTable(in *dynamodb.CreateTableInput) {
	sort.Slice(in.AttributeDefinitions, func(i, j int) bool {
		return aws.ToString(in.AttributeDefinitions[i].AttributeName) < aws.ToString(in.AttributeDefinitions[j].AttributeName)
	})
	sort.Slice(in.GlobalSecondaryIndexes, func(i, j int) bool {
		return aws.ToString(in.GlobalSecondaryIndexes[i].IndexName) < aws.ToString(in.GlobalSecondaryIndexes[j].IndexName)
	})
	sort.Slice(in.LocalSecondaryIndexes, func(i, j int) bool {
		return aws.ToString(in.LocalSecondaryIndexes[i].IndexName) < aws.ToString(in.LocalSecondaryIndexes[j].IndexName)
	})
}

// TestCfnLint runs cfn-lint on the template when it is installed; any
// finding (error, warning or informational) fails the test.
func TestCfnLint(t *testing.T) {
	if testing.Short() {
		t.Skip("cfn-lint is slow; skipped with -short")
	}
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not on PATH; install it (pip install cfn-lint) to lint template.yaml")
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, filepath.Join(repoRoot, samtemplate.File))
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if err != nil || out.Len() > 0 {
		t.Errorf("cfn-lint template.yaml: %v\n%s", err, out.String())
	}
}
