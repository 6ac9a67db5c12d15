package localrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/auth"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/samtemplate"
)

// DefaultTableName is the table (and the prefix of the queues) of `make
// run`.
const DefaultTableName = "outdial-local"

// pseudoParams are the fixed values of the template's pseudo parameters on
// the local stack.
var pseudoParams = map[string]string{
	"AWS::Region":    localstack.Region,
	"AWS::AccountId": "000000000000",
	"AWS::Partition": "aws",
	"AWS::URLSuffix": "amazonaws.com",
}

// ProvisionOptions say which local stand-ins to use or start, and how to
// name the template's table and queues on them.
type ProvisionOptions struct {
	Root string // repository root (template.yaml, node_modules)
	// Template is the parsed template; nil reads <Root>/template.yaml.
	Template *samtemplate.Template
	// TableName is what the template's table is called (created with the
	// template's schema unless it exists); the queues are called
	// <TableName>-<LogicalId>. Default DefaultTableName.
	TableName string
	// TokenSecret is what the template's TokenSecret parameter resolves
	// to; default auth.DevSecret.
	TokenSecret string
	// Parameters override the defaults of template parameters, like
	// `sam deploy --parameter-overrides` (e.g. LeaseGraceSeconds: "1").
	// Each must be a parameter of the template, within its constraints;
	// TokenSecret has a field of its own.
	Parameters       map[string]string
	DynamoDBEndpoint string // a running DynamoDB; empty starts DynamoDB Local
	DynamoDBPort     int    // port of the DynamoDB Local started (0: any free)
	SQSEndpoint      string // a running SQS stand-in; empty starts fauxqs
	SQSPort          int    // port of the fauxqs started (0: any free)
	NoSQS            bool   // no SQS at all: no stand-in, no queues
	// NoStream creates the table without its stream (nobody reads it):
	// DynamoDB Local then keeps no stream records.
	NoStream bool
}

// Resources are the local stand-ins and the template's table and queues on
// them: what the functions of the template are pointed at.
type Resources struct {
	DynamoDBEndpoint string
	SQSEndpoint      string // empty with ProvisionOptions.NoSQS
	TableName        string
	Queues           map[string]*Queue // by logical id
	TokenSecret      string
	Parameters       map[string]string // overrides of parameter defaults (ProvisionOptions.Parameters)
	Template         *samtemplate.Template

	procs []*localstack.Process
}

// Provision starts the stand-ins it is not given, and creates the
// template's table and queues on them. A table or queue that exists (that
// of a running `make run`, say) is used as it is; the queues it creates get
// the template's attributes, RedrivePolicy included. Close stops what it
// started.
func Provision(ctx context.Context, opt ProvisionOptions) (_ *Resources, err error) {
	r := &Resources{
		DynamoDBEndpoint: opt.DynamoDBEndpoint, SQSEndpoint: opt.SQSEndpoint,
		TableName: opt.TableName, TokenSecret: opt.TokenSecret, Parameters: opt.Parameters,
		Template: opt.Template, Queues: map[string]*Queue{},
	}
	if r.TableName == "" {
		r.TableName = DefaultTableName
	}
	if r.TokenSecret == "" {
		r.TokenSecret = auth.DevSecret
	}
	if opt.NoSQS {
		r.SQSEndpoint = ""
	}
	defer func() {
		if err != nil {
			_ = r.Close()
		}
	}()

	// Read the template first: a broken template should fail fast.
	if r.Template == nil {
		if r.Template, err = samtemplate.LoadRoot(opt.Root); err != nil {
			return nil, err
		}
	}
	if err := checkParameters(r.Template, r.Parameters); err != nil {
		return nil, err
	}
	tables := r.Template.Tables()
	if len(tables) != 1 {
		return nil, fmt.Errorf("template.yaml: want one DynamoDB table, found %d", len(tables))
	}
	in, err := r.Template.TableInput(tables[0])
	if err != nil {
		return nil, err
	}
	in.TableName = aws.String(r.TableName)
	if opt.NoStream {
		in.StreamSpecification = nil
	}

	// DynamoDB and the table.
	if r.DynamoDBEndpoint, err = r.standIn(ctx, opt.Root, r.DynamoDBEndpoint, opt.DynamoDBPort, localstack.StartDynamoDB); err != nil {
		return nil, err
	}
	db, err := localstack.DynamoDBClient(ctx, r.DynamoDBEndpoint)
	if err != nil {
		return nil, err
	}
	if err := dynamo.CreateTable(ctx, db, in); err != nil {
		return nil, err
	}

	// SQS and the queues.
	if opt.NoSQS {
		return r, nil
	}
	if r.SQSEndpoint, err = r.standIn(ctx, opt.Root, r.SQSEndpoint, opt.SQSPort, localstack.StartSQS); err != nil {
		return nil, err
	}
	client, err := localstack.SQSClient(ctx, r.SQSEndpoint)
	if err != nil {
		return nil, err
	}
	if r.Queues, err = createQueues(ctx, client, r.Template.Resources("AWS::SQS::Queue"), r.TableName+"-"); err != nil {
		return nil, err
	}
	return r, nil
}

// standIn returns endpoint, or when it is empty starts a stand-in with
// start and returns its endpoint.
func (r *Resources) standIn(ctx context.Context, root, endpoint string, port int,
	start func(context.Context, string, int) (*localstack.Process, error)) (string, error) {
	if endpoint != "" {
		return endpoint, nil
	}
	if err := localstack.EnsureNodeModules(root); err != nil {
		return "", err
	}
	p, err := start(ctx, root, port)
	if err != nil {
		return "", err
	}
	r.procs = append(r.procs, p)
	return p.Endpoint, nil
}

// Env returns the environment the template gives fn (Globals merged), with
// the table, the queues (!Ref of a queue is its URL), TokenSecret, the
// other parameters (Parameters, else their defaults) and the pseudo
// parameters resolved for these resources, plus the local endpoints and the function's name as Lambda
// sets it. unresolved names the variables it could not resolve (a queue's
// without SQS, say).
func (r *Resources) Env(fn *samtemplate.Function) (env map[string]string, unresolved []string) {
	refs := r.Template.ParameterDefaults()
	for k, v := range r.Parameters {
		refs[k] = v
	}
	for k, v := range pseudoParams {
		refs[k] = v
	}
	refs["TokenSecret"] = r.TokenSecret
	for _, id := range r.Template.Tables() {
		refs[id] = r.TableName
	}
	for id, q := range r.Queues {
		refs[id] = q.URL
	}
	env, unresolved = samtemplate.ResolveEnv(fn.Env, refs)
	env[app.EnvDynamoDBEndpoint] = r.DynamoDBEndpoint
	if r.SQSEndpoint != "" {
		env[app.EnvSQSEndpoint] = r.SQSEndpoint
	}
	env["AWS_LAMBDA_FUNCTION_NAME"] = fn.Name
	return env, unresolved
}

// checkParameters checks overrides of template parameters as CloudFormation
// would: each names a parameter of the template and keeps to its
// AllowedValues, and a Number to its MinValue and MaxValue.
func checkParameters(tpl *samtemplate.Template, params map[string]string) error {
	declared, _ := tpl.Raw["Parameters"].(map[string]any)
	for _, name := range sortedNames(params) {
		v := params[name]
		p, ok := declared[name].(map[string]any)
		switch {
		case name == "TokenSecret":
			return errors.New("parameter TokenSecret: set the token secret with its own option, not as a parameter override")
		case !ok:
			return fmt.Errorf("parameter %s: template.yaml has no such parameter", name)
		}
		if allowed, ok := p["AllowedValues"].([]any); ok {
			found := false
			for _, a := range allowed {
				found = found || fmt.Sprint(a) == v
			}
			if !found {
				return fmt.Errorf("parameter %s: %q is not one of %v", name, v, allowed)
			}
		}
		if p["Type"] != "Number" {
			continue
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("parameter %s: %q is not a number", name, v)
		}
		if lo, err := strconv.ParseFloat(fmt.Sprint(p["MinValue"]), 64); err == nil && n < lo {
			return fmt.Errorf("parameter %s: %s is below its MinValue %v", name, v, p["MinValue"])
		}
		if hi, err := strconv.ParseFloat(fmt.Sprint(p["MaxValue"]), 64); err == nil && n > hi {
			return fmt.Errorf("parameter %s: %s is above its MaxValue %v", name, v, p["MaxValue"])
		}
	}
	return nil
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Close stops the stand-ins Provision started; the table and queues on a
// stand-in it was given stay. It is safe to call more than once.
func (r *Resources) Close() error {
	var errs []error
	for i := len(r.procs) - 1; i >= 0; i-- {
		errs = append(errs, r.procs[i].Stop())
	}
	r.procs = nil
	return errors.Join(errs...)
}

// Queue is one queue of the template on the SQS stand-in.
type Queue struct {
	LogicalID string
	Name      string
	URL       string
	ARN       string
}

// queueAttributes are the properties of an AWS::SQS::Queue passed to
// CreateQueue as they are.
var queueAttributes = []string{"VisibilityTimeout", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds", "DelaySeconds", "MaximumMessageSize",
	"FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}

// createQueues sets up every AWS::SQS::Queue of the template, named
// prefix+<LogicalId>: queues that others point at as a dead-letter target
// first, then the rest with their RedrivePolicy pointing at that DLQ. A
// queue of that name that exists is used as it is.
func createQueues(ctx context.Context, client *sqs.Client, raw map[string]map[string]any, prefix string) (map[string]*Queue, error) {
	ids := make([]string, 0, len(raw))
	for id := range raw {
		ids = append(ids, id)
	}
	// Queues without a RedrivePolicy (DLQs) first.
	sort.Slice(ids, func(i, j int) bool {
		_, ri := raw[ids[i]]["RedrivePolicy"]
		_, rj := raw[ids[j]]["RedrivePolicy"]
		if ri != rj {
			return !ri
		}
		return ids[i] < ids[j]
	})
	out := map[string]*Queue{}
	for _, id := range ids {
		props := raw[id]
		name := prefix + id
		if fmt.Sprint(props["FifoQueue"]) == "true" {
			name += ".fifo" // as CloudFormation names a FIFO queue
		}
		var url *string
		if res, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)}); err == nil {
			url = res.QueueUrl
		} else {
			attrs := map[string]string{}
			for _, a := range queueAttributes {
				if v, ok := props[a]; ok {
					attrs[a] = fmt.Sprint(v)
				}
			}
			if rp, ok := props["RedrivePolicy"].(map[string]any); ok {
				dlq := refTarget(rp["deadLetterTargetArn"])
				q := out[dlq]
				if q == nil {
					return nil, fmt.Errorf("queue %s: dead-letter target %q is not a queue of the template", id, dlq)
				}
				b, _ := json.Marshal(map[string]any{"deadLetterTargetArn": q.ARN, "maxReceiveCount": fmt.Sprint(rp["maxReceiveCount"])})
				attrs["RedrivePolicy"] = string(b)
			}
			res, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
			if err != nil {
				return nil, fmt.Errorf("create queue %s: %w", name, err)
			}
			url = res.QueueUrl
		}
		ga, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: url, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
		})
		if err != nil {
			return nil, fmt.Errorf("queue %s attributes: %w", name, err)
		}
		out[id] = &Queue{LogicalID: id, Name: name, URL: aws.ToString(url), ARN: ga.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]}
	}
	return out, nil
}

// refTarget returns the logical id an intrinsic ({"Fn::GetAtt": "X.Arn"},
// {"Fn::GetAtt": ["X", "Arn"]} or {"Ref": "X"}) points at.
func refTarget(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	if r, ok := m["Ref"].(string); ok {
		return r
	}
	switch g := m["Fn::GetAtt"].(type) {
	case string:
		for i := range g {
			if g[i] == '.' {
				return g[:i]
			}
		}
		return g
	case []any:
		if len(g) > 0 {
			s, _ := g[0].(string)
			return s
		}
	}
	return ""
}
