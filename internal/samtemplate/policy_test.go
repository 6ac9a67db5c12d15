package samtemplate_test

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/outdial/outdial/internal/samtemplate"
)

// wantActions lists, for each function, exactly the DynamoDB actions its
// store calls need on the table (internal/dynamo); the index may only be
// queried, by the functions of wantIndex. Every writer of counts reads the
// owners of the count slots (Query) and takes one (UpdateItem), or makes
// it (a PutItem between two reads of the head, GetItem), and reads the
// head when a slot it wrote was missing.
// A TransactWriteItems call is authorised per item (Put -> PutItem, Update
// -> UpdateItem, Delete -> DeleteItem); IAM has no TransactWriteItems
// action, and ReturnValuesOnConditionCheckFailure needs none. Functions
// missing here are held to the general rules of TestLeastPrivilege only.
var wantActions = map[string][]string{
	"authorizer":     nil,
	"create-outdial": {"dynamodb:PutItem"},
	// The customer's partition, then each row's count slots.
	"list-outdials": {"dynamodb:Query"},
	// Head and count slots: one Query of the outdial's partition.
	"get-outdial": {"dynamodb:Query"},
	// The outdial read first (Query), a transaction of Updates; the head
	// read back (GetItem) when every answer of it was lost.
	"update-outdial":          {"dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:GetItem"},
	"update-outdial-campaign": {"dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:GetItem"},
	"update-outdial-data":     {"dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:GetItem"},
	// Read (Query), a transaction of Deletes and the purge marker's Put
	// (the head read back, GetItem, when every answer was lost), the count
	// slots in a batch.
	"delete-outdial": {"dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:GetItem"},
	// As update-outdial: the outdial with its counts (Query), a
	// transaction of Updates (head and list copy), the head read back
	// (GetItem) when every answer was lost.
	"archive-outdial": {"dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:GetItem"},
	"restore-outdial": {"dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:GetItem"},
	// The owner (GetItem), the suppression list (BatchGetItem),
	// transactions of Puts and a slot Update; the API reads back a
	// duplicate single target (GetTarget: BatchGetItem) and checks the
	// outdial of an all-rejected import (GetOutdial: Query).
	"add-targets":   {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"},
	"list-targets":  {"dynamodb:GetItem", "dynamodb:Query"},
	"get-target":    {"dynamodb:BatchGetItem"},
	"delete-target": {"dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:GetItem"},
	// The outdial (GetItem), the matching targets (table or GSI1 status
	// partitions), transactions of Deletes and a slot Update (the slots'
	// owners: Query), targets read again (BatchGetItem).
	"delete-targets": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:UpdateItem", "dynamodb:PutItem"},
	// The head (GetItem), the suppression list (one BatchGetItem per
	// claim), the lease registration (PutItem), due targets (GSI1),
	// transactions of Updates.
	"claim-targets": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"},
	// The suppression list: which addresses are listed (BatchGetItem),
	// writes and deletes in batches (BatchWriteItem), pages (the list
	// marker, GetItem, then Query).
	"add-suppressions":    {"dynamodb:BatchGetItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"},
	"check-suppressions":  {"dynamodb:GetItem", "dynamodb:BatchGetItem"},
	"delete-suppressions": {"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"},
	"list-suppressions":   {"dynamodb:GetItem", "dynamodb:Query"},
	// Webhooks (issue 15): one item per customer.
	"put-webhook":    {"dynamodb:UpdateItem"},
	"get-webhook":    {"dynamodb:GetItem"},
	"delete-webhook": {"dynamodb:GetItem", "dynamodb:DeleteItem"},
	"rotate-webhook": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
	"test-webhook":   {"dynamodb:GetItem"},
	// Owners and webhooks, an outdial's counts, its completion mark.
	"publish-events":   {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"},
	"deliver-webhooks": {"dynamodb:GetItem"},
	// Transactions of Updates, a count slot taken after reading the
	// slots' owners (Query).
	"process-outcomes": {"dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:GetItem"},
	"purge-targets":    {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem"},
	// The cursor (GetItem, PutItem), registrations (Query), expired leases
	// (GSI1), transactions of Updates, registrations done (BatchWriteItem).
	"expire-leases": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"},
}

// wantIndex are the functions whose store calls query GSI1; only they may
// be granted dynamodb:Query on it.
var wantIndex = set("list-targets", "delete-targets", "claim-targets", "expire-leases")

// Item-level actions a function may be granted at all; Scan, PartiQL and
// table management never are.
var (
	readActions  = set("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query")
	writeActions = set("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
		"dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem")
)

// samDynamoDBPolicies are the actions of SAM's DynamoDB policy templates
// (samtranslator policy_templates.json), so that using one is judged by
// what it really grants.
var samDynamoDBPolicies = map[string][]string{
	"DynamoDBReadPolicy": {"dynamodb:GetItem", "dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:DescribeTable"},
	"DynamoDBCrudPolicy": {"dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Scan", "dynamodb:Query",
		"dynamodb:UpdateItem", "dynamodb:BatchWriteItem", "dynamodb:BatchGetItem", "dynamodb:DescribeTable"},
	"DynamoDBWritePolicy":             {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"},
	"DynamoDBReconfigurePolicy":       {"dynamodb:UpdateTable"},
	"DynamoDBStreamReadPolicy":        {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"},
	"DynamoDBBackupFullAccessPolicy":  {"dynamodb:CreateBackup", "dynamodb:DescribeContinuousBackups", "dynamodb:DeleteBackup", "dynamodb:DescribeBackup", "dynamodb:ListBackups"},
	"DynamoDBRestoreFromBackupPolicy": {"dynamodb:RestoreTableFromBackup", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchWriteItem"},
}

// grant is one DynamoDB action a policy allows, on resource.
type grant struct {
	action   string
	resource any
}

// dynamoGrants returns the DynamoDB actions f's policies allow. It reports
// (as problems) anything it cannot judge and any wildcard.
func dynamoGrants(f *samtemplate.Function) (grants []grant, problems []string) {
	if _, ok := f.Properties["Role"]; ok {
		problems = append(problems, "sets Role; its permissions cannot be checked here, use Policies")
	}
	for i, p := range f.Policies {
		where := fmt.Sprintf("Policies[%d]", i)
		if _, _, ok := samtemplate.Intrinsic(p); ok {
			problems = append(problems, where+": an intrinsic policy cannot be checked")
			continue
		}
		switch p := p.(type) {
		case string:
			// A managed policy: none of ours may reach DynamoDB.
			if strings.Contains(strings.ToLower(p), "dynamodb") {
				problems = append(problems, fmt.Sprintf("%s: managed policy %s grants DynamoDB broadly", where, p))
			}
		case map[string]any:
			if stmts, bad, ok := samtemplate.Statements(p); ok {
				g, pr := statementGrants(where, stmts, bad)
				grants, problems = append(grants, g...), append(problems, pr...)
				continue
			}
			for name, args := range p {
				if actions, ok := samDynamoDBPolicies[name]; ok {
					for _, a := range actions {
						grants = append(grants, grant{a, args})
					}
				} else if strings.HasPrefix(name, "DynamoDB") {
					problems = append(problems, fmt.Sprintf("%s: unknown SAM policy template %s", where, name))
				}
			}
		default:
			problems = append(problems, fmt.Sprintf("%s: unexpected policy %v", where, p))
		}
	}
	return grants, problems
}

func statementGrants(where string, stmts []samtemplate.Statement, bad []int) (grants []grant, problems []string) {
	for _, j := range bad {
		problems = append(problems, fmt.Sprintf("%s.Statement[%d]: not a mapping", where, j))
	}
	for j, st := range stmts {
		where := fmt.Sprintf("%s.Statement[%d]", where, j)
		if !st.Allow {
			continue
		}
		if st.NotAction {
			problems = append(problems, where+": NotAction")
		}
		if st.NotResource {
			problems = append(problems, where+": NotResource")
		}
		for _, s := range st.Actions {
			if s == "*" || strings.EqualFold(s, "dynamodb:*") {
				problems = append(problems, fmt.Sprintf("%s: action %q", where, s))
				continue
			}
			if !strings.HasPrefix(strings.ToLower(s), "dynamodb:") {
				continue
			}
			for _, r := range st.Resources {
				grants = append(grants, grant{s, r})
			}
		}
	}
	return grants, problems
}

// TestLeastPrivilege checks every function's DynamoDB permissions: exact
// actions for the functions in wantActions; for all, only item-level
// actions (never Scan), only reads for get-/list- functions, nothing for
// the authorizer, only the table (or its index) as the resource, and the
// index only for the functions in wantIndex.
func TestLeastPrivilege(t *testing.T) {
	tpl := loadRepo(t)
	auth := tpl.Authorizer()
	tableArn := map[string]any{"Fn::GetAtt": []any{"Table", "Arn"}}
	indexArn := map[string]any{"Fn::Sub": "${Table.Arn}/index/GSI1"}
	for id, f := range tpl.Functions {
		grants, problems := dynamoGrants(f)
		for _, p := range problems {
			t.Errorf("%s: %s", id, p)
		}
		got := map[string]bool{} // actions on the table (the index allows Query only)
		onIndex := false
		for _, g := range grants {
			switch {
			case reflect.DeepEqual(g.resource, tableArn):
				got[g.action] = true
			case reflect.DeepEqual(g.resource, indexArn):
				onIndex = true
				// An index can only be queried.
				if g.action != "dynamodb:Query" {
					t.Errorf("%s: %s on the index, want only dynamodb:Query there", id, g.action)
				}
			default:
				t.Errorf("%s: %s on %v, want only !GetAtt Table.Arn or !Sub ${Table.Arn}/index/GSI1", id, g.action, g.resource)
			}
			readOnly := strings.HasPrefix(f.Name, "get-") || strings.HasPrefix(f.Name, "list-")
			switch {
			case f == auth:
				t.Errorf("%s: the authorizer is granted %s; it must have no DynamoDB access", id, g.action)
			case readOnly && !readActions[g.action]:
				t.Errorf("%s: read-only function is granted %s", id, g.action)
			case !readActions[g.action] && !writeActions[g.action]:
				t.Errorf("%s: granted %s, which is not an item-level action (Scan, PartiQL and table management are never allowed)", id, g.action)
			}
		}
		if onIndex != wantIndex[f.Name] {
			t.Errorf("%s: access to GSI1 is %v, want %v (only functions that query the index get it)", id, onIndex, wantIndex[f.Name])
		}
		want, ok := wantActions[f.Name]
		if !ok {
			t.Logf("%s: no entry in wantActions; only the general rules were checked", id)
			continue
		}
		if gotList, wantList := keys(got), keys(set(want...)); !reflect.DeepEqual(gotList, wantList) {
			t.Errorf("%s: DynamoDB actions %v, want exactly %v", id, gotList, wantList)
		}
	}
}

// TestDynamoGrantsCatchesBroadPolicies checks the checker on the policies
// it must reject.
func TestDynamoGrantsCatchesBroadPolicies(t *testing.T) {
	tpl := parse(t, `
Resources:
  Read:
    Type: AWS::Serverless::Function
    Metadata: {Dir: functions/get-x}
    Properties:
      Policies:
        - DynamoDBReadPolicy: {TableName: !Ref Table}
  Star:
    Type: AWS::Serverless::Function
    Metadata: {Dir: functions/star}
    Properties:
      Policies:
        - Statement:
            - Effect: Allow
              Action: dynamodb:*
              Resource: "*"
            - Effect: Allow
              Action: [dynamodb:GetItem]
              Resource: "*"
        - AmazonDynamoDBFullAccess
`)
	grants, problems := dynamoGrants(tpl.Functions["Read"])
	if !hasAction(grants, "dynamodb:Scan") || len(problems) != 0 {
		t.Errorf("DynamoDBReadPolicy: got grants %v problems %v, want Scan among the grants", grants, problems)
	}
	grants, problems = dynamoGrants(tpl.Functions["Star"])
	if len(problems) != 2 || len(grants) != 1 || grants[0].resource != "*" {
		t.Errorf("wildcards: got grants %v problems %v, want 2 problems and GetItem on *", grants, problems)
	}
}

func hasAction(grants []grant, action string) bool {
	for _, g := range grants {
		if g.action == action {
			return true
		}
	}
	return false
}

func set(items ...string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, s := range items {
		m[s] = true
	}
	return m
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
