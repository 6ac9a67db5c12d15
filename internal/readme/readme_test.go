// Package readme_test checks that every command README.md and docs/*.md
// show works:
// the Quickstart's curl commands run for real (bash, curl) against a local
// stack, the outcome message of `aws sqs send-message` is sent to its
// queue and applied, and the commands that cannot run inside a test
// (make run, make test, make demo, sam build, ...) are checked to exist:
// each `make X` is a target of the Makefile (with mk/*.mk and build.mk),
// each `go run ./cmd/Y` names a main package, and each flag given to one
// (directly or through a make variable) is a flag of that command.
//
// The package has only tests.
package readme_test

import (
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/samtemplate"
)

// TestMain shares one DynamoDB Local among the tests (or uses
// OUTDIAL_DYNAMODB_ENDPOINT).
func TestMain(m *testing.M) { dynamotest.Main(m) }

// commandSection is the README section whose table lists the commands.
const commandSection = "Commands"

// docMarker starts each docs/*.md file where loadREADME joins them.
const docMarker = "\x00doc "

// readme is README.md and docs/*.md cut into what the tests check.
type readme struct {
	root    string
	fences  []fence  // fenced code blocks, in order
	spans   []string // inline code spans outside fences
	table   []string // the command column of the "Commands" table
	section map[string][]fence
}

// fence is one fenced code block.
type fence struct {
	lang    string // the info string: sh, json, csv, ...
	section string // the "## " heading it is under
	body    string
}

// commands returns the shell commands of the block: continuation lines
// joined, comments and blank lines dropped.
func (f fence) commands() []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(f.body, "\n") {
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`))
			continue
		}
		cur.WriteString(line)
		if cmd := strings.TrimSpace(stripComment(cur.String())); cmd != "" {
			out = append(out, cmd)
		}
		cur.Reset()
	}
	return out
}

// stripComment removes a shell comment: a # at the start of a word,
// outside quotes ('...', "...", $'...').
func stripComment(s string) string {
	var quote byte // 0, '\'', '"', or 'c' for $'...'
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch quote {
		case '\'':
			if c == '\'' {
				quote = 0
			}
		case '"', 'c':
			if c == '\\' {
				i++
			} else if (quote == '"' && c == '"') || (quote == 'c' && c == '\'') {
				quote = 0
			}
		default:
			switch {
			case c == '\\':
				i++
			case c == '\'':
				quote = '\''
			case c == '"':
				quote = '"'
			case c == '$' && i+1 < len(s) && s[i+1] == '\'':
				quote = 'c'
				i++
			case c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
				return s[:i]
			}
		}
	}
	return s
}

var spanRE = regexp.MustCompile("`([^`]+)`")

// loadREADME reads and cuts the repository's README.md.
func loadREADME(t *testing.T) *readme {
	t.Helper()
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// README.md first, then the docs in name order: their commands are
	// checked the same way (a section name of docs/x.md is "x.md: <h>").
	data, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(docs)
	for _, d := range docs {
		b, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, "\n"+docMarker+filepath.Base(d)+"\n"...)
		data = append(data, b...)
	}
	r := &readme{root: root, section: map[string][]fence{}}
	file := ""
	var (
		prose   strings.Builder
		section string
		in      *fence
		body    []string
		inTable bool
	)
	for _, line := range strings.Split(string(data), "\n") {
		if in != nil {
			if strings.HasPrefix(line, "```") {
				in.body = strings.Join(body, "\n")
				r.fences = append(r.fences, *in)
				r.section[in.section] = append(r.section[in.section], *in)
				in, body = nil, nil
				continue
			}
			body = append(body, line)
			continue
		}
		if rest, ok := strings.CutPrefix(line, "```"); ok {
			in = &fence{lang: strings.TrimSpace(rest), section: section}
			continue
		}
		if f, ok := strings.CutPrefix(line, docMarker); ok {
			file, section, inTable = f+": ", "", false
			continue
		}
		prose.WriteString(line + "\n")
		if h, ok := strings.CutPrefix(line, "## "); ok {
			section = file + strings.TrimSpace(h)
			inTable = false
			continue
		}
		if section == commandSection && strings.HasPrefix(line, "|") {
			cells := strings.Split(line, "|")
			if len(cells) < 3 {
				continue
			}
			first := strings.TrimSpace(cells[1])
			switch {
			case first == "command":
				inTable = true
			case inTable && strings.Trim(first, "-: ") == "":
			case inTable:
				m := spanRE.FindStringSubmatch(first)
				if m == nil {
					t.Errorf("README: command table row without a `command`: %s", line)
					continue
				}
				r.table = append(r.table, m[1])
			}
		}
	}
	if in != nil {
		t.Fatalf("README: unterminated code fence in %q", in.section)
	}
	// Code spans may wrap across lines. The comments of shell blocks
	// quote commands too.
	text := prose.String()
	for _, f := range r.fences {
		if f.lang == "sh" {
			for _, line := range strings.Split(f.body, "\n") {
				if code := stripComment(line); len(code) < len(line) {
					text += line[len(code):] + "\n"
				}
			}
		}
	}
	for _, m := range spanRE.FindAllStringSubmatch(strings.ReplaceAll(text, "\n", " "), -1) {
		r.spans = append(r.spans, strings.TrimSpace(m[1]))
	}
	if len(r.table) == 0 {
		t.Fatal(`README: no command table under "## Commands"`)
	}
	return r
}

// shellCommands returns every command of every sh block, then the table's.
func (r *readme) shellCommands() []string {
	var out []string
	for _, f := range r.fences {
		if f.lang == "sh" || f.lang == "bash" || f.lang == "shell" || f.lang == "console" {
			out = append(out, f.commands()...)
		}
	}
	return append(out, r.table...)
}

// makeRE finds make invocations in a command or code span.
var makeRE = regexp.MustCompile(`(?:^|[\s;&|(])make\s+([^|;&#]*)`)

// makeCall is one `make X VAR=value ...` of the README.
type makeCall struct {
	text   string // where it was found
	target string
	vars   map[string]string
}

// makeCalls returns every make invocation in the README: its sh blocks,
// its command table and its inline code spans.
func (r *readme) makeCalls(t *testing.T) []makeCall {
	t.Helper()
	var out []makeCall
	seen := map[string]bool{}
	for _, text := range append(r.shellCommands(), r.spans...) {
		for _, m := range makeRE.FindAllStringSubmatch(text, -1) {
			words, err := shellWords(m[1])
			if err != nil {
				t.Errorf("README: %q: %v", text, err)
				continue
			}
			c := makeCall{text: text, vars: map[string]string{}}
			for _, w := range words {
				if k, v, ok := strings.Cut(w, "="); ok && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`).MatchString(k) {
					c.vars[k] = v
				} else if c.target == "" && !strings.HasPrefix(w, "-") {
					c.target = w
				}
			}
			if c.target == "" {
				t.Errorf("README: %q runs make without a target", text)
				continue
			}
			key := c.target + "|" + m[1]
			if !seen[key] {
				seen[key] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// shellWords splits s into words the way the shell would for the simple
// cases the README uses: blanks separate words, quotes group.
func shellWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool
		quote rune
	)
	for _, c := range s {
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(c)
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == ' ' || c == '\t' || c == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

// makeRule is one rule of make's database.
type makeRule struct {
	prereqs []string
	recipe  string
}

// makeDatabase returns the rules make knows after reading the Makefile
// (and what it includes). It asks for a target that cannot exist, so make
// runs nothing: -n would run recipe lines that use $(MAKE), and the whole
// recipe with .ONESHELL.
func makeDatabase(t *testing.T, root string) map[string]makeRule {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "-p", "-q", "-r", "-R", "__readme_test_no_such_target__")
	cmd.Dir = root
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run() // exits 2: no rule for the goal
	if !strings.Contains(errb.String(), "__readme_test_no_such_target__") {
		t.Fatalf("make -p: %s", errb.String())
	}
	header := regexp.MustCompile(`^([^\s#:=][^\s:=]*)\s*:(?:\s+(.*))?$`)
	rules := map[string]makeRule{}
	lines := strings.Split(out.String(), "\n")
	for i := 0; i < len(lines); i++ {
		m := header.FindStringSubmatch(lines[i])
		if m == nil || (i > 0 && lines[i-1] == "# Not a target:") {
			continue
		}
		var recipe []string
		for j := i + 1; j < len(lines) && lines[j] != ""; j++ {
			if strings.HasPrefix(lines[j], "\t") {
				recipe = append(recipe, lines[j][1:])
			}
		}
		rules[m[1]] = makeRule{prereqs: strings.Fields(m[2]), recipe: strings.Join(recipe, "\n")}
	}
	if len(rules) < 5 {
		t.Fatalf("make -p listed %d rules; output:\n%s", len(rules), out.String())
	}
	return rules
}

// goRunRE finds `go run ./cmd/<name>` and what follows it on its line.
var goRunRE = regexp.MustCompile(`go run (\./cmd/[A-Za-z0-9_-]+)([^\n|;&]*)`)

// flagRE finds the flags in the arguments of a command.
var flagRE = regexp.MustCompile(`(?:^|[\s,'"(\[])--?([A-Za-z][A-Za-z0-9_-]*)`)

// goCommand is what a test knows of a main package under cmd/.
type goCommand struct {
	isMain bool
	flags  map[string]bool
}

// commandOf parses the package in dir (relative to root) and returns
// whether it is a main package and the flags it defines with the flag
// package (flag.String("name", ...), fs.IntVar(&v, "name", ...), ...).
func commandOf(t *testing.T, root, dir string) goCommand {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, filepath.Join(root, dir), func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil || len(pkgs) == 0 {
		return goCommand{}
	}
	c := goCommand{flags: map[string]bool{}}
	for name, pkg := range pkgs {
		if name == "main" {
			c.isMain = true
		}
		for _, f := range pkg.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				arg := -1
				switch sel.Sel.Name {
				case "String", "Int", "Int64", "Uint", "Uint64", "Bool", "Duration", "Float64", "Func", "BoolFunc":
					arg = 0
				case "StringVar", "IntVar", "Int64Var", "UintVar", "Uint64Var", "BoolVar", "DurationVar", "Float64Var", "TextVar", "Var":
					arg = 1
				}
				if arg < 0 || len(call.Args) <= arg+1 {
					return true
				}
				if lit, ok := call.Args[arg].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil {
						c.flags[s] = true
					}
				}
				return true
			})
		}
	}
	return c
}

// checkGoRun checks the go run commands in text: each names a main package
// and passes only flags it has. subst replaces make variable references
// ($(VAR)) before the flags are read.
func checkGoRun(t *testing.T, root, where, text string, cmds map[string]goCommand) int {
	t.Helper()
	n := 0
	for _, m := range goRunRE.FindAllStringSubmatch(text, -1) {
		n++
		dir := strings.TrimPrefix(m[1], "./")
		c, ok := cmds[dir]
		if !ok {
			c = commandOf(t, root, dir)
			cmds[dir] = c
		}
		if !c.isMain {
			t.Errorf("%s: `go run %s`: no main package in %s", where, m[1], dir)
			continue
		}
		for _, f := range flagRE.FindAllStringSubmatch(m[2], -1) {
			if !c.flags[f[1]] {
				t.Errorf("%s: `go run %s` is given -%s, which %s does not define (it has %v)", where, m[1], f[1], dir, keys(c.flags))
			}
		}
	}
	return n
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestREADMECommandsAreChecked fails on a README command this package
// does not know how to run or check, so that a new one cannot slip in
// unchecked.
func TestREADMECommandsAreChecked(t *testing.T) {
	r := loadREADME(t)
	known := map[string]string{
		"curl": "run by TestQuickstart",
		"make": "TestMakeTargets",
		"go":   "TestGoRunCommands (go run ./cmd/...)",
		"sam":  "TestSAMBuildAndDeploy",
		"aws":  "TestQuickstart (aws sqs send-message)",
	}
	cmds := r.shellCommands()
	if len(cmds) < 10 {
		t.Fatalf("found only %d README commands: %q", len(cmds), cmds)
	}
	for _, c := range cmds {
		words, err := shellWords(c)
		if err != nil || len(words) == 0 {
			t.Errorf("README command %q: %v", c, err)
			continue
		}
		if _, ok := known[words[0]]; !ok {
			t.Errorf("README command %q: this package does not check %q commands; add a check", c, words[0])
		}
		if words[0] == "go" && (len(words) < 3 || words[1] != "run" || !strings.HasPrefix(words[2], "./cmd/")) {
			t.Errorf("README command %q: only `go run ./cmd/...` is checked", c)
		}
		if words[0] == "aws" && !strings.HasPrefix(c, "aws sqs send-message ") {
			t.Errorf("README command %q: only aws sqs send-message is checked", c)
		}
		if words[0] == "sam" && words[1] != "build" && words[1] != "deploy" {
			t.Errorf("README command %q: only sam build and sam deploy are checked", c)
		}
	}
}

// TestMakeTargets checks every `make X` of the README: X is a target of
// the Makefile (or mk/*.mk, build.mk), every VAR=value given is used by
// its recipe, and the go run commands of the recipe name main packages
// and pass only flags they have (with the README's variable values).
func TestMakeTargets(t *testing.T) {
	r := loadREADME(t)
	rules := makeDatabase(t, r.root)
	tpl, err := samtemplate.LoadRoot(r.root)
	if err != nil {
		t.Fatal(err)
	}
	var logicalIDs []string
	for id := range tpl.Functions {
		logicalIDs = append(logicalIDs, id)
	}
	sort.Strings(logicalIDs)

	cmds := map[string]goCommand{}
	calls := r.makeCalls(t)
	seen := map[string]bool{}
	for _, c := range calls {
		targets := []string{c.target}
		if strings.Contains(c.target, "<LogicalId>") {
			targets = nil
			for _, id := range logicalIDs {
				targets = append(targets, strings.ReplaceAll(c.target, "<LogicalId>", id))
			}
		} else if strings.ContainsAny(c.target, "<>") {
			t.Errorf("README: %q: no value known for the placeholder in %q", c.text, c.target)
			continue
		}
		for _, target := range targets {
			seen[target] = true
			rule, ok := rules[target]
			if !ok {
				t.Errorf("README: %q: make has no target %q", c.text, target)
				continue
			}
			recipe := rule.recipe
			for name, value := range c.vars {
				ref := regexp.MustCompile(`\$[({]` + name + `[)}]`)
				if !ref.MatchString(recipe) {
					t.Errorf("README: %q sets %s, which the recipe of %s does not use:\n%s", c.text, name, target, recipe)
				}
				// The README's value stands in for the variable; a
				// placeholder such as <LogicalId> is a word.
				recipe = ref.ReplaceAllLiteralString(recipe, value)
			}
			checkGoRun(t, r.root, "make "+target+" (from README "+strconv.Quote(c.text)+")", recipe, cmds)
		}
	}
	// The commands the Quickstart and the table promise.
	for _, want := range []string{"run", "test", "demo", "bench", "invoke"} {
		if !seen[want] {
			t.Errorf("README never shows make %s", want)
		}
	}
	t.Logf("%d make invocations, targets %v", len(calls), keys(seen))
}

// TestGoRunCommands checks every `go run ./cmd/...` the README shows: a
// main package, and only flags it defines. The flags of cmd/token are
// also read from its own -h, which checks the source reading above.
func TestGoRunCommands(t *testing.T) {
	r := loadREADME(t)
	cmds := map[string]goCommand{}
	n := 0
	seen := map[string]bool{}
	for _, text := range append(r.shellCommands(), r.spans...) {
		if !seen[text] {
			seen[text] = true
			n += checkGoRun(t, r.root, "README "+strconv.Quote(text), text, cmds)
		}
	}
	if n == 0 {
		t.Fatal("the README shows no go run command")
	}
	token, ok := cmds["cmd/token"]
	if !ok {
		t.Fatal("the README does not show go run ./cmd/token")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "./cmd/token", "-h")
	cmd.Dir = r.root
	out, _ := cmd.CombinedOutput() // -h exits 0 or 2 depending on the flag package's mode
	helped := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([A-Za-z][A-Za-z0-9_-]*)`).FindAllStringSubmatch(string(out), -1) {
		helped[m[1]] = true
	}
	if len(helped) == 0 {
		t.Fatalf("go run ./cmd/token -h listed no flags:\n%s", out)
	}
	if got, want := keys(helped), keys(token.flags); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("go run ./cmd/token -h lists %v; its source defines %v", got, want)
	}
}

// TestSAMBuildAndDeploy checks what `sam build` and `sam deploy --guided`
// need, as the README describes them: every function of template.yaml
// builds with the makefile method through a build-<LogicalId> target that
// builds its functions/ directory for linux/arm64 without cgo, with
// -tags lambda.norpc -trimpath -ldflags "-s -w"; samconfig.toml turns off
// SAM's build cache and builds in the source tree; the deploy asks for a
// TokenSecret of at least 32 bytes that is never echoed.
func TestSAMBuildAndDeploy(t *testing.T) {
	r := loadREADME(t)
	var sawBuild, sawDeploy bool
	for _, c := range r.shellCommands() {
		sawBuild = sawBuild || c == "sam build"
		sawDeploy = sawDeploy || strings.HasPrefix(c, "sam deploy")
	}
	if !sawBuild || !sawDeploy {
		t.Fatalf("README shows sam build: %v, sam deploy: %v; this test checks both", sawBuild, sawDeploy)
	}
	tpl, err := samtemplate.LoadRoot(r.root)
	if err != nil {
		t.Fatal(err)
	}
	rules := makeDatabase(t, r.root)
	// The recipes use make variables; these are build.mk's.
	vars := strings.NewReplacer("$(LAMBDA_GOOS)", "linux", "$(LAMBDA_GOARCH)", "arm64", "$(LAMBDA_BUILD_FLAGS)", `-tags lambda.norpc -trimpath -ldflags "-s -w"`)
	for id, fn := range tpl.Functions {
		if got := fn.Metadata["BuildMethod"]; got != "makefile" {
			t.Errorf("%s: Metadata.BuildMethod = %v, want makefile", id, got)
		}
		rule, ok := rules["build-"+id]
		if !ok {
			t.Errorf("no make target build-%s for sam build", id)
			continue
		}
		recipe := vars.Replace(rule.recipe)
		for _, want := range []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "-tags lambda.norpc", "-trimpath", `-ldflags "-s -w"`, "$(ARTIFACTS_DIR)/bootstrap", "./" + fn.Dir} {
			if !strings.Contains(recipe, want) {
				t.Errorf("build-%s does not contain %q:\n%s", id, want, recipe)
			}
		}
	}
	cfg, err := os.ReadFile(filepath.Join(r.root, "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cached = false", "build_in_source = true"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `\s*$`).Match(cfg) {
			t.Errorf("samconfig.toml lacks %q (the README says so)", want)
		}
	}
	params, _ := tpl.Raw["Parameters"].(map[string]any)
	secret, _ := params["TokenSecret"].(map[string]any)
	if secret == nil {
		t.Fatalf("template.yaml has no TokenSecret parameter for sam deploy --guided to ask for")
	}
	if secret["NoEcho"] != true || fmt.Sprint(secret["MinLength"]) != "32" || secret["Default"] != nil {
		t.Errorf("TokenSecret = %v; want NoEcho: true, MinLength: 32 and no default", secret)
	}
}

// TestParse checks the README reading on a small document.
func TestParse(t *testing.T) {
	f := fence{lang: "sh", body: "make run   # starts # it\n\ncurl -X POST 'http://x/?a=#b' \\\n  --data $'a\\'#b\\n' # c\n# only a comment\n"}
	got := f.commands()
	want := []string{"make run", `curl -X POST 'http://x/?a=#b'   --data $'a\'#b\n'`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("commands =\n%q\nwant\n%q", got, want)
	}
	words, err := shellWords(`invoke FN=<LogicalId> RUN_ARGS='-addr 127.0.0.1:3001'`)
	if err != nil || strings.Join(words, "|") != "invoke|FN=<LogicalId>|RUN_ARGS=-addr 127.0.0.1:3001" {
		t.Errorf("shellWords = %q, %v", words, err)
	}
	m := makeRE.FindAllStringSubmatch("sudo make lint && make -C x test", -1)
	if len(m) != 2 || strings.TrimSpace(m[0][1]) != "lint" {
		t.Errorf("makeRE found %q", m)
	}
	fl := flagRE.FindAllStringSubmatch(" -customer <uuid> [-ttl 24h] $(if $(E),-event '$(E)') --data x -1", -1)
	var names []string
	for _, f := range fl {
		names = append(names, f[1])
	}
	if strings.Join(names, ",") != "customer,ttl,event,data" {
		t.Errorf("flags = %v", names)
	}
}

// TestREADMESize: the README stays a newcomer's ten-minute read (issue
// 13: at most 15 KB); the API, the design and the figures live in docs/.
func TestREADMESize(t *testing.T) {
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 15_000 {
		t.Errorf("README.md is %d bytes, want at most 15 000: move reference material to docs/", fi.Size())
	}
}
