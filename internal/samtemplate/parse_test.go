package samtemplate_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/outdial/outdial/internal/samtemplate"
)

// parse parses an inline template, failing the test on error.
func parse(t *testing.T, src string) *samtemplate.Template {
	t.Helper()
	tpl, err := samtemplate.Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return tpl
}

// props returns the raw Properties of resource id.
func props(t *testing.T, tpl *samtemplate.Template, id string) map[string]any {
	t.Helper()
	res, _ := tpl.Raw["Resources"].(map[string]any)
	r, _ := res[id].(map[string]any)
	p, ok := r["Properties"].(map[string]any)
	if !ok {
		t.Fatalf("resource %s has no Properties", id)
	}
	return p
}

func TestParseShortFormIntrinsics(t *testing.T) {
	tpl := parse(t, `
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Resources:
  Thing:
    Type: AWS::Some::Thing
    Properties:
      Ref: !Ref Table
      RefNumber: !Ref 10
      GetAtt: !GetAtt Table.Arn
      GetAttDotted: !GetAtt Db.Endpoint.Address
      GetAttList: !GetAtt [Table, StreamArn]
      Sub: !Sub "arn:${AWS::Partition}:s3:::${Bucket}/*"
      SubVars: !Sub
        - "${Name}-x"
        - Name: !Ref Table
      If: !If [IsProd, !Ref Big, !Ref "AWS::NoValue"]
      Join: !Join [",", [a, !Ref B]]
      Select: !Select [0, !GetAZs ""]
      Cond: !Condition IsProd
      Split: !Split [",", "a,b"]
      Import: !ImportValue shared-vpc
      FindInMap: !FindInMap [Map, !Ref "AWS::Region", Ami]
      Base64: !Base64 hello
      Plain: text
      Number: 30
      Float: 1.5
      Bool: true
      Quoted: "2.0"
`)
	want := map[string]any{
		"Ref":          map[string]any{"Ref": "Table"},
		"RefNumber":    map[string]any{"Ref": "10"},
		"GetAtt":       map[string]any{"Fn::GetAtt": []any{"Table", "Arn"}},
		"GetAttDotted": map[string]any{"Fn::GetAtt": []any{"Db", "Endpoint.Address"}},
		"GetAttList":   map[string]any{"Fn::GetAtt": []any{"Table", "StreamArn"}},
		"Sub":          map[string]any{"Fn::Sub": "arn:${AWS::Partition}:s3:::${Bucket}/*"},
		"SubVars": map[string]any{"Fn::Sub": []any{
			"${Name}-x", map[string]any{"Name": map[string]any{"Ref": "Table"}},
		}},
		"If": map[string]any{"Fn::If": []any{
			"IsProd", map[string]any{"Ref": "Big"}, map[string]any{"Ref": "AWS::NoValue"},
		}},
		"Join":      map[string]any{"Fn::Join": []any{",", []any{"a", map[string]any{"Ref": "B"}}}},
		"Select":    map[string]any{"Fn::Select": []any{0, map[string]any{"Fn::GetAZs": ""}}},
		"Cond":      map[string]any{"Condition": "IsProd"},
		"Split":     map[string]any{"Fn::Split": []any{",", "a,b"}},
		"Import":    map[string]any{"Fn::ImportValue": "shared-vpc"},
		"FindInMap": map[string]any{"Fn::FindInMap": []any{"Map", map[string]any{"Ref": "AWS::Region"}, "Ami"}},
		"Base64":    map[string]any{"Fn::Base64": "hello"},
		"Plain":     "text",
		"Number":    30,
		"Float":     1.5,
		"Bool":      true,
		"Quoted":    "2.0",
	}
	got := props(t, tpl, "Thing")
	for k, w := range want {
		if !reflect.DeepEqual(got[k], w) {
			t.Errorf("%s: got %#v, want %#v", k, got[k], w)
		}
	}
	cond := tpl.Raw["Conditions"].(map[string]any)["IsProd"]
	if w := map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "Env"}, "prod"}}; !reflect.DeepEqual(cond, w) {
		t.Errorf("condition: got %#v, want %#v", cond, w)
	}
}

// TestParseLongFormEqualsShortForm checks that a JSON template in long
// form reads exactly like its YAML short form.
func TestParseLongFormEqualsShortForm(t *testing.T) {
	short := parse(t, `
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {Dir: functions/x}
    Properties:
      Environment:
        Variables:
          TABLE: !Ref Table
          ARN: !GetAtt Table.Arn
          URL: !Sub "https://${Api}.example"
`)
	long := parse(t, `{"Resources": {"Fn": {
  "Type": "AWS::Serverless::Function", "Metadata": {"Dir": "functions/x"},
  "Properties": {"Environment": {"Variables": {
    "TABLE": {"Ref": "Table"},
    "ARN": {"Fn::GetAtt": ["Table", "Arn"]},
    "URL": {"Fn::Sub": "https://${Api}.example"}}}}}}}`)
	if !reflect.DeepEqual(short.Raw, long.Raw) {
		t.Errorf("short form %#v\nlong form %#v", short.Raw, long.Raw)
	}
}

func TestParseMergeKeyAndAlias(t *testing.T) {
	tpl := parse(t, `
Resources:
  A:
    Type: AWS::Some::Thing
    Properties: &base
      X: 1
      Y: !Ref Y
  B:
    Type: AWS::Some::Thing
    Properties:
      <<: *base
      X: 2
`)
	want := map[string]any{"X": 2, "Y": map[string]any{"Ref": "Y"}}
	if got := props(t, tpl, "B"); !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"not yaml", "Resources: [", "parse template"},
		{"no resources", "Description: x\n", "Resources"},
		{"resource without type", "Resources:\n  A:\n    Properties: {}\n", "Type"},
		{"duplicate key", "Resources:\n  A:\n    Type: X\n  A:\n    Type: Y\n", "duplicate key"},
		{"getatt without attribute", "Resources:\n  A:\n    Type: X\n    Properties:\n      V: !GetAtt Table\n", "!GetAtt"},
		{"function without dir", "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: .\n", "no directory"},
		{"bad timeout", "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Metadata: {Dir: functions/f}\n    Properties:\n      Timeout: soon\n", "Timeout"},
		{"schedule without expression", "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Metadata: {Dir: functions/f}\n    Properties:\n      Events:\n        S:\n          Type: ScheduleV2\n          Properties: {State: ENABLED}\n", "ScheduleExpression"},
		{"schedule expression a list", "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Metadata: {Dir: functions/f}\n    Properties:\n      Events:\n        S:\n          Type: ScheduleV2\n          Properties: {ScheduleExpression: [rate(1 minute)]}\n", "ScheduleExpression"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := samtemplate.Parse([]byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

const functionsTemplate = `
Parameters:
  Level:
    Type: String
    Default: WARN
  Memory:
    Type: Number
    Default: 512
Globals:
  Function:
    Timeout: 10
    Layers: [!Ref LayerA]
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
        LOG_LEVEL: !Ref Level
  HttpApi:
    Auth:
      DefaultAuthorizer: Tok
      Authorizers:
        Tok:
          FunctionArn: !GetAtt Auth.Arn
          AuthorizerPayloadFormatVersion: "2.0"
Resources:
  Auth:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: makefile, Dir: functions/authorizer}
    Properties:
      CodeUri: .
  Create:
    Type: AWS::Serverless::Function
    Metadata: {Dir: ./functions/create-thing/}
    Properties:
      CodeUri: .
      Timeout: 20
      MemorySize: !Ref Memory
      Layers: [!Ref LayerB]
      Environment:
        Variables:
          LOG_LEVEL: DEBUG
          EXTRA: 3
      Policies: AWSLambdaBasicExecutionRole
      Events:
        Post:
          Type: HttpApi
          Properties: {Path: /things, Method: post}
        Public:
          Type: HttpApi
          Properties: {Path: /things/public, Method: get, Auth: {Authorizer: NONE}}
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/worker/
      Events:
        Queue:
          Type: SQS
          Properties: {Queue: !GetAtt Queue.Arn, BatchSize: 10}
        Any:
          Type: HttpApi
  Queue:
    Type: AWS::SQS::Queue
  Bare:
    Type: AWS::SQS::Queue
    Properties: {VisibilityTimeout: 60}
`

func TestFunctions(t *testing.T) {
	tpl := parse(t, functionsTemplate)
	if got, want := len(tpl.Functions), 3; got != want {
		t.Fatalf("got %d functions, want %d", got, want)
	}
	c := tpl.Functions["Create"]
	if c.Dir != "functions/create-thing" || c.Name != "create-thing" || c.LogicalID != "Create" {
		t.Errorf("got Dir %q Name %q LogicalID %q", c.Dir, c.Name, c.LogicalID)
	}
	if c.Timeout != 20 || c.MemorySize != 512 {
		t.Errorf("got Timeout %d MemorySize %d, want 20 and 512 (the parameter default)", c.Timeout, c.MemorySize)
	}
	wantEnv := map[string]any{"TABLE_NAME": map[string]any{"Ref": "Table"}, "LOG_LEVEL": "DEBUG", "EXTRA": 3}
	if !reflect.DeepEqual(c.Env, wantEnv) {
		t.Errorf("Env: got %#v, want %#v", c.Env, wantEnv)
	}
	wantLayers := []any{map[string]any{"Ref": "LayerA"}, map[string]any{"Ref": "LayerB"}}
	if !reflect.DeepEqual(c.Properties["Layers"], wantLayers) {
		t.Errorf("Layers: got %#v, want globals then function %#v", c.Properties["Layers"], wantLayers)
	}
	if !reflect.DeepEqual(c.Policies, []any{"AWSLambdaBasicExecutionRole"}) {
		t.Errorf("Policies: got %#v", c.Policies)
	}
	if got := []string{c.Events[0].Name, c.Events[0].Method, c.Events[0].Path}; !reflect.DeepEqual(got, []string{"Post", "POST", "/things"}) {
		t.Errorf("first event: got %v", got)
	}

	w := tpl.Functions["Worker"]
	if w.Dir != "functions/worker" || w.Name != "worker" {
		t.Errorf("Worker from CodeUri: got Dir %q Name %q", w.Dir, w.Name)
	}
	if w.Timeout != 10 || w.MemorySize != 128 {
		t.Errorf("Worker: got Timeout %d MemorySize %d, want 10 (Globals) and 128 (SAM default)", w.Timeout, w.MemorySize)
	}
	if len(w.Events) != 2 || w.Events[0].Name != "Any" || w.Events[1].Type != samtemplate.EventSQS {
		t.Fatalf("Worker events: got %+v", w.Events)
	}
	if got := w.Events[1].Properties["BatchSize"]; got != 10 {
		t.Errorf("SQS BatchSize: got %v, want 10", got)
	}

	if got, want := tpl.ParameterDefaults(), map[string]string{"Level": "WARN", "Memory": "512"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ParameterDefaults: got %v, want %v", got, want)
	}
	queues := tpl.Resources("AWS::SQS::Queue")
	if len(queues) != 2 || len(queues["Queue"]) != 0 || queues["Bare"]["VisibilityTimeout"] != 60 {
		t.Errorf("Resources(AWS::SQS::Queue): got %#v", queues)
	}
}

// TestScheduleV2Events checks that a ScheduleV2 event carries its
// expression when it is a string, and keeps an intrinsic as written.
func TestScheduleV2Events(t *testing.T) {
	tpl := parse(t, `
Parameters:
  Minutes: {Type: Number, Default: 5}
Resources:
  Sweep:
    Type: AWS::Serverless::Function
    Metadata: {Dir: functions/sweep}
    Properties:
      Events:
        Every:
          Type: ScheduleV2
          Properties: {ScheduleExpression: " rate(1 minute) "}
        Nightly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0 3 * * ? *)
            State: DISABLED
        Sub:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: !Sub "rate(${Minutes} minutes)"
`)
	evs := tpl.Functions["Sweep"].Events
	type ev struct{ Name, Type, Schedule string }
	var got []ev
	for _, e := range evs {
		got = append(got, ev{e.Name, e.Type, e.Schedule})
	}
	want := []ev{
		{"Every", samtemplate.EventScheduleV2, "rate(1 minute)"},
		{"Nightly", samtemplate.EventScheduleV2, "cron(0 3 * * ? *)"},
		{"Sub", samtemplate.EventScheduleV2, ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n got %+v\nwant %+v", got, want)
	}
	if evs[1].Properties["State"] != "DISABLED" {
		t.Errorf("Nightly: State %v, want DISABLED kept in Properties", evs[1].Properties["State"])
	}
	if got, want := evs[2].Properties["ScheduleExpression"], map[string]any{"Fn::Sub": "rate(${Minutes} minutes)"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Sub: ScheduleExpression %#v, want the intrinsic as written %#v", got, want)
	}
	if len(tpl.Routes()) != 0 {
		t.Errorf("Routes: a schedule became a route: %+v", tpl.Routes())
	}
}

func TestRoutesAndAuthorizer(t *testing.T) {
	tpl := parse(t, functionsTemplate)
	type route struct {
		Method, Path, Function string
		Authorized             bool
	}
	var got []route
	for _, r := range tpl.Routes() {
		got = append(got, route{r.Method, r.Path, r.Function.LogicalID, r.Authorized})
	}
	want := []route{
		{"ANY", "$default", "Worker", true},
		{"POST", "/things", "Create", true},
		{"GET", "/things/public", "Create", false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Routes:\n got %+v\nwant %+v", got, want)
	}
	if a := tpl.Authorizer(); a == nil || a.LogicalID != "Auth" {
		t.Errorf("Authorizer: got %+v, want Auth", a)
	}
}

func TestRoutesExplicitAPI(t *testing.T) {
	tests := []struct {
		name, auth, eventAuth string
		authorized            bool
		authorizer            string
	}{
		{"default authorizer", "DefaultAuthorizer: Tok", "", true, "AuthFn"},
		{"opt out", "DefaultAuthorizer: Tok", "Auth: {Authorizer: NONE}", false, "AuthFn"},
		{"no default", "", "", false, ""},
		{"named on the event", "", "Auth: {Authorizer: Tok}", true, ""},
		{"unknown default", "DefaultAuthorizer: Nope", "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl := parse(t, `
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        `+tt.auth+`
        Authorizers:
          Tok:
            FunctionArn: {"Fn::GetAtt": "AuthFn.Arn"}
            AuthorizerPayloadFormatVersion: "2.0"
  AuthFn:
    Type: AWS::Serverless::Function
    Metadata: {Dir: functions/authorizer}
  Get:
    Type: AWS::Serverless::Function
    Metadata: {Dir: functions/get-thing}
    Properties:
      Events:
        Get:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Path: /things/{id}
            Method: GET
            `+tt.eventAuth+`
`)
			routes := tpl.Routes()
			if len(routes) != 1 || routes[0].Authorized != tt.authorized {
				t.Errorf("got %+v, want one route with Authorized %v", routes, tt.authorized)
			}
			got := ""
			if a := tpl.Authorizer(); a != nil {
				got = a.LogicalID
			}
			if got != tt.authorizer {
				t.Errorf("Authorizer: got %q, want %q", got, tt.authorizer)
			}
		})
	}
}

func TestTableInput(t *testing.T) {
	tpl := parse(t, `
Resources:
  Named:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: things
      AttributeDefinitions:
        - {AttributeName: PK, AttributeType: S}
        - {AttributeName: LSK, AttributeType: N}
      KeySchema:
        - {AttributeName: PK, KeyType: HASH}
      ProvisionedThroughput: {ReadCapacityUnits: 5, WriteCapacityUnits: "2"}
      LocalSecondaryIndexes:
        - IndexName: L
          KeySchema:
            - {AttributeName: PK, KeyType: HASH}
            - {AttributeName: LSK, KeyType: RANGE}
          Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [a, b]}
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  Unnamed:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-t"
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: PK, AttributeType: S}]
      KeySchema: [{AttributeName: PK, KeyType: HASH}]
  Bad:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: !Ref Key, AttributeType: S}]
      KeySchema: [{AttributeName: PK, KeyType: HASH}]
  Queue:
    Type: AWS::SQS::Queue
`)
	if got, want := tpl.Tables(), []string{"Bad", "Named", "Unnamed"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Tables: got %v, want %v", got, want)
	}

	got, err := tpl.TableInput("Named")
	if err != nil {
		t.Fatal(err)
	}
	want := &dynamodb.CreateTableInput{
		TableName:   aws.String("things"),
		BillingMode: types.BillingModeProvisioned,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("PK"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("LSK"), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema:             []types.KeySchemaElement{{AttributeName: aws.String("PK"), KeyType: types.KeyTypeHash}},
		ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(5), WriteCapacityUnits: aws.Int64(2)},
		LocalSecondaryIndexes: []types.LocalSecondaryIndex{{
			IndexName: aws.String("L"),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String("PK"), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String("LSK"), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: []string{"a", "b"}},
		}},
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewImage},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TableInput(Named):\n got %s\nwant %s", jsonOf(got), jsonOf(want))
	}

	un, err := tpl.TableInput("Unnamed")
	if err != nil {
		t.Fatal(err)
	}
	if un.TableName != nil || un.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("TableInput(Unnamed): got TableName %v BillingMode %q, want nil and PAY_PER_REQUEST", un.TableName, un.BillingMode)
	}

	for _, id := range []string{"Bad", "Queue", "Missing"} {
		if _, err := tpl.TableInput(id); err == nil {
			t.Errorf("TableInput(%s): got no error", id)
		}
	}
}

func TestResolveEnv(t *testing.T) {
	env := map[string]any{
		"PLAIN":   "x",
		"NUMBER":  3,
		"BOOL":    false,
		"REF":     map[string]any{"Ref": "Table"},
		"EMPTY":   map[string]any{"Ref": "Previous"},
		"MISSING": map[string]any{"Ref": "Nope"},
		"SUB":     map[string]any{"Fn::Sub": "${Table}@${AWS::Region}/${Queue.Arn}/${!Literal}"},
		"SUBVARS": map[string]any{"Fn::Sub": []any{"${A}-${Table}", map[string]any{"A": map[string]any{"Ref": "Table"}}}},
		"SUBMISS": map[string]any{"Fn::Sub": "${Nope}"},
		"JOIN":    map[string]any{"Fn::Join": []any{":", []any{"a", map[string]any{"Ref": "Table"}}}},
		"IF":      map[string]any{"Fn::If": []any{"C", "a", "b"}},
		"ATT":     map[string]any{"Fn::GetAtt": []any{"Queue", "Arn"}},
	}
	refs := map[string]string{"Table": "outdial", "Previous": "", "AWS::Region": "eu-west-1", "Queue.Arn": "arn:q"}
	got, unresolved := samtemplate.ResolveEnv(env, refs)
	want := map[string]string{
		"PLAIN": "x", "NUMBER": "3", "BOOL": "false", "REF": "outdial", "EMPTY": "", "MISSING": "",
		"SUB": "outdial@eu-west-1/arn:q/${Literal}", "SUBVARS": "outdial-outdial", "SUBMISS": "",
		"JOIN": "a:outdial", "IF": "", "ATT": "",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("values:\n got %v\nwant %v", got, want)
	}
	if want := []string{"ATT", "IF", "MISSING", "SUBMISS"}; !reflect.DeepEqual(unresolved, want) {
		t.Errorf("unresolved: got %v, want %v", unresolved, want)
	}
}

func TestIntrinsic(t *testing.T) {
	tests := []struct {
		v    any
		fn   string
		isFn bool
	}{
		{map[string]any{"Ref": "X"}, "Ref", true},
		{map[string]any{"Fn::Sub": "x"}, "Fn::Sub", true},
		{map[string]any{"Condition": "C"}, "Condition", true},
		{map[string]any{"Ref": "X", "Other": 1}, "", false},
		{map[string]any{"Variables": map[string]any{}}, "", false},
		{"Ref", "", false},
	}
	for _, tt := range tests {
		fn, _, ok := samtemplate.Intrinsic(tt.v)
		if fn != tt.fn || ok != tt.isFn {
			t.Errorf("Intrinsic(%v): got %q %v, want %q %v", tt.v, fn, ok, tt.fn, tt.isFn)
		}
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
