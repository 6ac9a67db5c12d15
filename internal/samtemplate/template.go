// Package samtemplate reads the project's AWS SAM template (template.yaml)
// as written, before any transform: its functions with their directories,
// environment, policies and events, the HTTP API routes and authorizer, and
// the DynamoDB table definitions. The local runner serves the API from it
// and the tests check the template against the code with it.
//
// CloudFormation intrinsics are kept, never resolved to empty values: both
// the short form (!Ref Table) and the long form read as {"Ref": "Table"},
// !GetAtt A.Arn as {"Fn::GetAtt": ["A", "Arn"]}, and so on. ResolveEnv
// turns the ones a caller can answer into strings.
package samtemplate

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/outdial/outdial/internal/localstack"
)

// Resource types the package understands.
const (
	TypeFunction = "AWS::Serverless::Function"
	TypeHTTPAPI  = "AWS::Serverless::HttpApi"
	TypeTable    = "AWS::DynamoDB::Table"
)

// Event types of AWS::Serverless::Function events.
const (
	EventHTTPAPI = "HttpApi"
	EventSQS     = "SQS"
	// EventScheduleV2 is a schedule of EventBridge Scheduler
	// (AWS::Scheduler::Schedule) that invokes the function.
	EventScheduleV2 = "ScheduleV2"
	// EventDynamoDB is a DynamoDB Stream event source mapping.
	EventDynamoDB = "DynamoDB"
)

// implicitHTTPAPI is the logical id SAM gives the HTTP API it creates for
// HttpApi events without an ApiId.
const implicitHTTPAPI = "ServerlessHttpApi"

// SAM's defaults when a function (and Globals) leave these unset.
const (
	defaultTimeout    = 3
	defaultMemorySize = 128
)

// Template is a parsed SAM template.
type Template struct {
	// Functions are the AWS::Serverless::Function resources by logical id.
	Functions map[string]*Function
	// Raw is the whole template as decoded, intrinsics in long form.
	Raw map[string]any

	resources map[string]map[string]any // resource by logical id
	globals   map[string]any            // Globals section
}

// Function is one AWS::Serverless::Function with Globals.Function merged in.
type Function struct {
	// LogicalID is the resource's logical id, e.g. CreateOutdialFunction.
	LogicalID string
	// Dir is the directory of the function's main package relative to the
	// template, e.g. functions/create-outdial: the resource's Metadata.Dir,
	// else its CodeUri.
	Dir string
	// Name is the base name of Dir, e.g. create-outdial: the function's
	// name in its main.go and in the local runner (localrun.Names).
	Name string
	// Timeout is in seconds and MemorySize in MB, SAM's defaults (3, 128)
	// when unset; a Ref to a parameter reads the parameter's default.
	Timeout    int
	MemorySize int
	// Env is Environment.Variables: strings (or numbers, booleans) and
	// intrinsic maps such as {"Ref": "Table"}; see ResolveEnv.
	Env map[string]any
	// Events are the function's events, sorted by name.
	Events []Event
	// Policies is the Policies property as written (a list).
	Policies []any
	// Properties are all properties, Globals.Function merged in.
	Properties map[string]any
	// Metadata is the resource's Metadata attribute.
	Metadata map[string]any
}

// Event is one entry of a function's Events.
type Event struct {
	// Name is the event's key under Events, Type its Type (HttpApi, SQS,
	// ScheduleV2).
	Name, Type string
	// Method (upper case, ANY for any method) and Path of an HttpApi event;
	// an HttpApi event without them is the API's $default route.
	Method, Path string
	// Schedule is the ScheduleExpression of a ScheduleV2 event, such as
	// "rate(1 minute)" or "cron(0 8 * * ? *)", when it is written as a
	// string; an intrinsic leaves it empty (Properties has it as written).
	Schedule string
	// Properties are the event's properties as written.
	Properties map[string]any
}

// Route is one route of an HTTP API: an HttpApi event of a function.
type Route struct {
	Method, Path string
	Function     *Function
	// Authorized says whether a Lambda authorizer guards the route: the
	// API's DefaultAuthorizer applies (or the event names an authorizer)
	// and the event does not opt out with Auth.Authorizer: NONE.
	Authorized bool
}

// Load reads and parses the template at path.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// File is the template's path relative to the repository root.
const File = "template.yaml"

// LoadRoot reads and parses the template of the repository at root.
func LoadRoot(root string) (*Template, error) {
	return Load(filepath.Join(root, File))
}

// LoadRepo reads and parses the template of the repository the working
// directory is in (the root localstack.RepoRoot finds): the one template
// loader of the tests.
func LoadRepo() (*Template, error) {
	root, err := localstack.RepoRoot()
	if err != nil {
		return nil, err
	}
	return LoadRoot(root)
}

// Parse parses a template from its YAML (or JSON) text.
func Parse(data []byte) (*Template, error) {
	doc, err := decodeYAML(data)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	raw, ok := doc.(map[string]any)
	if !ok {
		return nil, errors.New("parse template: not a mapping")
	}
	t := &Template{Raw: raw, Functions: map[string]*Function{}, resources: map[string]map[string]any{}}
	if g, ok := raw["Globals"]; ok {
		if t.globals, ok = g.(map[string]any); !ok {
			return nil, errors.New("Globals: not a mapping")
		}
	}
	resources, ok := raw["Resources"].(map[string]any)
	if !ok {
		return nil, errors.New("Resources: missing or not a mapping")
	}
	for id, r := range resources {
		res, ok := r.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("resource %s: not a mapping", id)
		}
		if _, ok := res["Type"].(string); !ok {
			return nil, fmt.Errorf("resource %s: Type missing or not a string", id)
		}
		if p, ok := res["Properties"]; ok {
			if _, ok := p.(map[string]any); !ok {
				return nil, fmt.Errorf("resource %s: Properties is not a mapping", id)
			}
		}
		t.resources[id] = res
	}
	for _, id := range sortedKeys(t.resources) {
		if t.resources[id]["Type"] != TypeFunction {
			continue
		}
		f, err := t.function(id)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", id, err)
		}
		t.Functions[id] = f
	}
	return t, nil
}

// function builds the Function of the resource id.
func (t *Template) function(id string) (*Function, error) {
	res := t.resources[id]
	props := mergeGlobals(mapAt(t.globals, "Function"), properties(res))
	meta, _ := res["Metadata"].(map[string]any)
	f := &Function{LogicalID: id, Properties: props, Metadata: meta, Env: map[string]any{}}

	// Directory: Metadata.Dir, else a CodeUri naming a directory.
	dir, _ := meta["Dir"].(string)
	if dir == "" {
		if uri, ok := props["CodeUri"].(string); ok && !strings.Contains(uri, "://") {
			dir = uri
		}
	}
	dir = path.Clean(strings.ReplaceAll(dir, `\`, "/"))
	if dir == "." || dir == "" {
		return nil, errors.New("no directory: set Metadata.Dir (e.g. functions/<name>) or a CodeUri naming the directory")
	}
	f.Dir, f.Name = dir, path.Base(dir)

	var err error
	if f.Timeout, err = t.intProp(props, "Timeout", defaultTimeout); err != nil {
		return nil, err
	}
	if f.MemorySize, err = t.intProp(props, "MemorySize", defaultMemorySize); err != nil {
		return nil, err
	}
	if vars, ok := mapAt(props, "Environment")["Variables"]; ok {
		m, ok := vars.(map[string]any)
		if !ok {
			return nil, errors.New("Environment.Variables: not a mapping")
		}
		f.Env = m
	}
	switch p := props["Policies"].(type) {
	case nil:
	case []any:
		f.Policies = p
	default:
		// A single policy (a name, a document or a policy template).
		f.Policies = []any{p}
	}
	if evs, ok := props["Events"]; ok {
		m, ok := evs.(map[string]any)
		if !ok {
			return nil, errors.New("Events: not a mapping")
		}
		for _, name := range sortedKeys(m) {
			ev, err := parseEvent(name, m[name])
			if err != nil {
				return nil, err
			}
			f.Events = append(f.Events, ev)
		}
	}
	return f, nil
}

func parseEvent(name string, v any) (Event, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return Event{}, fmt.Errorf("event %s: not a mapping", name)
	}
	ev := Event{Name: name, Properties: mapAt(m, "Properties")}
	if ev.Type, ok = m["Type"].(string); !ok {
		return Event{}, fmt.Errorf("event %s: Type missing or not a string", name)
	}
	switch ev.Type {
	case EventHTTPAPI:
	case EventScheduleV2:
		expr, ok := ev.Properties["ScheduleExpression"]
		if !ok {
			return Event{}, fmt.Errorf("event %s: ScheduleV2 without a ScheduleExpression", name)
		}
		if s, ok := expr.(string); ok {
			ev.Schedule = strings.TrimSpace(s)
		} else if _, _, ok := Intrinsic(expr); !ok {
			return Event{}, fmt.Errorf("event %s: ScheduleExpression is neither a string nor an intrinsic", name)
		}
		return ev, nil
	default:
		return ev, nil
	}
	method, okM := ev.Properties["Method"].(string)
	p, okP := ev.Properties["Path"].(string)
	if _, set := ev.Properties["Method"]; set && !okM {
		return Event{}, fmt.Errorf("event %s: Method is not a string", name)
	}
	if _, set := ev.Properties["Path"]; set && !okP {
		return Event{}, fmt.Errorf("event %s: Path is not a string", name)
	}
	ev.Method, ev.Path = strings.ToUpper(method), p
	switch ev.Method {
	case "", "X-AMAZON-APIGATEWAY-ANY-METHOD":
		ev.Method = "ANY"
	}
	if ev.Path == "" {
		ev.Path = "$default"
	}
	return ev, nil
}

// intProp reads an integer property, following a Ref to a parameter's
// default; def when the property is absent.
func (t *Template) intProp(props map[string]any, key string, def int) (int, error) {
	v, ok := props[key]
	if !ok {
		return def, nil
	}
	if fn, arg, ok := Intrinsic(v); ok && fn == "Ref" {
		name, _ := arg.(string)
		d, ok := mapAt(mapAt(t.Raw, "Parameters"), name)["Default"]
		if !ok {
			return 0, fmt.Errorf("%s: Ref %v has no parameter default", key, arg)
		}
		v = d
	}
	switch n := v.(type) {
	case int:
		return n, nil
	case string:
		i, err := strconv.Atoi(n)
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not an integer", key, n)
		}
		return i, nil
	}
	return 0, fmt.Errorf("%s: %v is not an integer", key, v)
}

// Routes returns every HttpApi event of every function as a route, sorted
// by path then method.
func (t *Template) Routes() []Route {
	var routes []Route
	for _, id := range sortedKeys(t.Functions) {
		f := t.Functions[id]
		for _, ev := range f.Events {
			if ev.Type != EventHTTPAPI {
				continue
			}
			routes = append(routes, Route{
				Method: ev.Method, Path: ev.Path, Function: f,
				Authorized: t.authorized(ev),
			})
		}
	}
	sort.SliceStable(routes, func(i, j int) bool {
		if routes[i].Path != routes[j].Path {
			return routes[i].Path < routes[j].Path
		}
		return routes[i].Method < routes[j].Method
	})
	return routes
}

// authorized reports whether an authorizer guards the HttpApi event ev.
func (t *Template) authorized(ev Event) bool {
	auth := mapAt(t.httpAPIProps(apiOf(ev)), "Auth")
	authorizers := mapAt(auth, "Authorizers")
	known := func(name string) bool {
		_, ok := authorizers[name]
		return ok || name == "AWS_IAM"
	}
	if name, ok := mapAt(ev.Properties, "Auth")["Authorizer"].(string); ok {
		return name != "NONE" && known(name)
	}
	name, _ := auth["DefaultAuthorizer"].(string)
	return name != "" && known(name)
}

// apiOf returns the logical id of the HTTP API an HttpApi event attaches to.
func apiOf(ev Event) string {
	if fn, arg, ok := Intrinsic(ev.Properties["ApiId"]); ok && fn == "Ref" {
		if id, ok := arg.(string); ok {
			return id
		}
	}
	return implicitHTTPAPI
}

// httpAPIProps returns the properties of the HTTP API id with
// Globals.HttpApi merged in (the implicit API has only the globals).
func (t *Template) httpAPIProps(id string) map[string]any {
	var own map[string]any
	if res, ok := t.resources[id]; ok && res["Type"] == TypeHTTPAPI {
		own = properties(res)
	}
	return mergeGlobals(mapAt(t.globals, "HttpApi"), own)
}

// Authorizer returns the function the default authorizer of the template's
// HTTP API invokes (its FunctionArn is !GetAtt <LogicalId>.Arn), or nil if
// no HTTP API has a Lambda default authorizer. With several HTTP APIs the
// first by logical id that has one wins.
func (t *Template) Authorizer() *Function {
	apis := map[string]bool{}
	for id, res := range t.resources {
		if res["Type"] == TypeHTTPAPI {
			apis[id] = true
		}
	}
	for _, f := range t.Functions {
		for _, ev := range f.Events {
			if ev.Type == EventHTTPAPI {
				apis[apiOf(ev)] = true
			}
		}
	}
	for _, id := range sortedKeys(apis) {
		auth := mapAt(t.httpAPIProps(id), "Auth")
		name, _ := auth["DefaultAuthorizer"].(string)
		if name == "" {
			continue
		}
		arn := mapAt(mapAt(auth, "Authorizers"), name)["FunctionArn"]
		if f := t.Functions[arnTarget(arn)]; f != nil {
			return f
		}
	}
	return nil
}

// arnTarget returns X of !GetAtt X.Arn (either form) or !Sub "${X.Arn}".
func arnTarget(v any) string {
	fn, arg, ok := Intrinsic(v)
	if !ok {
		return ""
	}
	switch fn {
	case "Fn::GetAtt":
		switch a := arg.(type) {
		case []any:
			if len(a) == 2 && a[1] == "Arn" {
				s, _ := a[0].(string)
				return s
			}
		case string:
			if id, ok := strings.CutSuffix(a, ".Arn"); ok {
				return id
			}
		}
	case "Fn::Sub":
		if s, ok := arg.(string); ok && strings.HasPrefix(s, "${") && strings.HasSuffix(s, ".Arn}") {
			return strings.TrimSuffix(strings.TrimPrefix(s, "${"), ".Arn}")
		}
	}
	return ""
}

// Tables returns the logical ids of the AWS::DynamoDB::Table resources,
// sorted.
func (t *Template) Tables() []string {
	return sortedKeys(t.Resources(TypeTable))
}

// Resources returns the raw Properties of every resource of type typ (e.g.
// AWS::SQS::Queue) by logical id; a resource without properties maps to an
// empty map.
func (t *Template) Resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, res := range t.resources {
		if res["Type"] == typ {
			p := properties(res)
			if p == nil {
				p = map[string]any{}
			}
			out[id] = p
		}
	}
	return out
}

// ParameterDefaults returns the Default of every template parameter that
// has one, as a string (lists joined with commas), by parameter name.
func (t *Template) ParameterDefaults() map[string]string {
	out := map[string]string{}
	for name, p := range mapAt(t.Raw, "Parameters") {
		pm, _ := p.(map[string]any)
		d, ok := pm["Default"]
		if !ok {
			continue
		}
		if s, ok := scalarString(d); ok {
			out[name] = s
		} else if l, ok := d.([]any); ok {
			parts := make([]string, 0, len(l))
			for _, e := range l {
				s, _ := scalarString(e)
				parts = append(parts, s)
			}
			out[name] = strings.Join(parts, ",")
		}
	}
	return out
}

// properties returns a resource's Properties (nil when absent).
func properties(res map[string]any) map[string]any {
	p, _ := res["Properties"].(map[string]any)
	return p
}

// mapAt returns m[key] as a map, or nil.
func mapAt(m map[string]any, key string) map[string]any {
	v, _ := m[key].(map[string]any)
	return v
}

// mergeGlobals merges a Globals section into a resource's properties the
// way SAM does: maps merge key by key (the resource wins), lists are
// concatenated (globals first), anything else, intrinsics included, is
// taken from the resource when it sets it.
func mergeGlobals(global, local map[string]any) map[string]any {
	out := make(map[string]any, len(global)+len(local))
	for k, v := range global {
		out[k] = v
	}
	for k, v := range local {
		if g, ok := out[k]; ok {
			out[k] = mergeValue(g, v)
		} else {
			out[k] = v
		}
	}
	return out
}

func mergeValue(global, local any) any {
	_, _, gi := Intrinsic(global)
	_, _, li := Intrinsic(local)
	if gi || li {
		return local
	}
	switch g := global.(type) {
	case map[string]any:
		if l, ok := local.(map[string]any); ok {
			return mergeGlobals(g, l)
		}
	case []any:
		if l, ok := local.([]any); ok {
			return append(append([]any{}, g...), l...)
		}
	}
	return local
}

// scalarString formats a YAML scalar (string, number, bool) as a string.
func scalarString(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case int:
		return strconv.Itoa(s), true
	case int64:
		return strconv.FormatInt(s, 10), true
	case uint64:
		return strconv.FormatUint(s, 10), true
	case float64:
		return strconv.FormatFloat(s, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(s), true
	}
	return "", false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
