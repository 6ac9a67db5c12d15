package invoke

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/auth"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/samtemplate"
)

// What `make run` (cmd/outdial-local) listens on and names its table and
// queues; `make invoke` points functions at it when it is running.
const (
	DefaultDynamoDBEndpoint = "http://127.0.0.1:8000"
	DefaultSQSEndpoint      = "http://127.0.0.1:9324"
	DefaultTableName        = "outdial-local"
)

// Fixed values of the template's pseudo parameters, as `make run` has them.
var pseudoParams = map[string]string{
	"AWS::Region":    localstack.Region,
	"AWS::AccountId": "000000000000",
	"AWS::Partition": "aws",
	"AWS::URLSuffix": "amazonaws.com",
}

// StackOptions say which local stand-ins the functions are pointed at.
type StackOptions struct {
	Root     string
	Template *samtemplate.Template
	// TableName is the table the template's table resolves to; it is
	// created (with the template's schema) unless it exists. Default
	// DefaultTableName. Queues are named <TableName>-<LogicalId>, like
	// `make run` names them.
	TableName string
	// DynamoDBEndpoint is a running DynamoDB Local; empty starts one.
	DynamoDBEndpoint string
	// SQS says whether to set up the template's queues: SQSEndpoint is a
	// running SQS stand-in; empty starts fauxqs.
	SQS         bool
	SQSEndpoint string
	// TokenSecret is what the template's TokenSecret parameter resolves
	// to, and signs the tokens of Event; default auth.DevSecret.
	TokenSecret string
}

// Stack is the local stand-ins of one `make invoke` (or test).
type Stack struct {
	DynamoDBEndpoint string
	SQSEndpoint      string // empty without SQS
	TableName        string
	QueueURLs        map[string]string // by logical id
	TokenSecret      string
	Template         *samtemplate.Template

	procs []*localstack.Process
}

// StartStack prepares the stand-ins: it starts those it is not given, and
// creates the table and, with SQS, the queues. Close stops what it started.
func StartStack(ctx context.Context, opt StackOptions) (_ *Stack, err error) {
	if opt.Template == nil {
		return nil, errors.New("invoke: StackOptions.Template is nil")
	}
	st := &Stack{
		DynamoDBEndpoint: opt.DynamoDBEndpoint, SQSEndpoint: opt.SQSEndpoint,
		TableName: opt.TableName, TokenSecret: opt.TokenSecret, Template: opt.Template,
		QueueURLs: map[string]string{},
	}
	if st.TableName == "" {
		st.TableName = DefaultTableName
	}
	if st.TokenSecret == "" {
		st.TokenSecret = auth.DevSecret
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()

	// DynamoDB and the table.
	if st.DynamoDBEndpoint == "" {
		p, err := localstack.StartDynamoDB(ctx, opt.Root, 0)
		if err != nil {
			return nil, err
		}
		st.procs = append(st.procs, p)
		st.DynamoDBEndpoint = p.Endpoint
	}
	db, err := localstack.DynamoDBClient(ctx, st.DynamoDBEndpoint)
	if err != nil {
		return nil, err
	}
	tables := opt.Template.Tables()
	if len(tables) != 1 {
		return nil, fmt.Errorf("template: want one DynamoDB table, found %d", len(tables))
	}
	in, err := opt.Template.TableInput(tables[0])
	if err != nil {
		return nil, err
	}
	in.TableName = aws.String(st.TableName)
	if err := dynamo.CreateTable(ctx, db, in); err != nil {
		return nil, err
	}

	// SQS and the queues.
	if !opt.SQS {
		st.SQSEndpoint = ""
		return st, nil
	}
	if st.SQSEndpoint == "" {
		p, err := localstack.StartSQS(ctx, opt.Root, 0)
		if err != nil {
			return nil, err
		}
		st.procs = append(st.procs, p)
		st.SQSEndpoint = p.Endpoint
	}
	client, err := localstack.SQSClient(ctx, st.SQSEndpoint)
	if err != nil {
		return nil, err
	}
	var ids []string
	for id := range opt.Template.Resources("AWS::SQS::Queue") {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		name := st.TableName + "-" + id
		// An existing queue (`make run`'s) is used as it is.
		if out, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)}); err == nil {
			st.QueueURLs[id] = aws.ToString(out.QueueUrl)
			continue
		}
		out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
		if err != nil {
			return nil, fmt.Errorf("create queue %s: %w", name, err)
		}
		st.QueueURLs[id] = aws.ToString(out.QueueUrl)
	}
	return st, nil
}

// Close stops the stand-ins StartStack started; the table and queues of a
// stand-in it was given stay.
func (st *Stack) Close() error {
	var errs []error
	for i := len(st.procs) - 1; i >= 0; i-- {
		errs = append(errs, st.procs[i].Stop())
	}
	st.procs = nil
	return errors.Join(errs...)
}

// Env returns the whole environment of fn under the emulator: the
// template's variables for it (Globals merged) with the table, queues,
// parameters and pseudo parameters resolved for this stack, the local
// endpoints, dummy AWS credentials, and what Lambda itself sets (function
// name, memory size, region).
func (st *Stack) Env(fn *samtemplate.Function) (map[string]string, error) {
	refs := st.Template.ParameterDefaults()
	for k, v := range pseudoParams {
		refs[k] = v
	}
	refs["TokenSecret"] = st.TokenSecret
	for _, id := range st.Template.Tables() {
		refs[id] = st.TableName
	}
	for id, u := range st.QueueURLs {
		refs[id] = u // !Ref of a queue is its URL
	}
	env, unresolved := samtemplate.ResolveEnv(fn.Env, refs)
	if len(unresolved) > 0 {
		return nil, fmt.Errorf("%s: cannot resolve the environment variables %v for the local stack (a queue needs the SQS stand-in)", fn.LogicalID, unresolved)
	}
	env[app.EnvDynamoDBEndpoint] = st.DynamoDBEndpoint
	if st.SQSEndpoint != "" {
		env[app.EnvSQSEndpoint] = st.SQSEndpoint
	}
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":               "local",
		"AWS_SECRET_ACCESS_KEY":           "local",
		"AWS_REGION":                      localstack.Region,
		"AWS_DEFAULT_REGION":              localstack.Region,
		"AWS_EC2_METADATA_DISABLED":       "true",
		"AWS_LAMBDA_FUNCTION_NAME":        fn.Name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(fn.MemorySize),
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"TZ":                              ":UTC",
	} {
		env[k] = v
	}
	return env, nil
}

// UsesQueues reports whether fn's environment refers to a queue of the
// template (it then needs StackOptions.SQS).
func UsesQueues(tpl *samtemplate.Template, fn *samtemplate.Function) bool {
	queues := tpl.Resources("AWS::SQS::Queue")
	refs := tpl.ParameterDefaults()
	for k, v := range pseudoParams {
		refs[k] = v
	}
	refs["TokenSecret"] = "x"
	for _, id := range tpl.Tables() {
		refs[id] = "x"
	}
	_, without := samtemplate.ResolveEnv(fn.Env, refs)
	for id := range queues {
		refs[id] = "x"
	}
	_, with := samtemplate.ResolveEnv(fn.Env, refs)
	return len(with) < len(without)
}

// Event returns a sample event with samtemplate.TokenPlaceholder replaced
// by a token for samtemplate.EventCustomerID signed with the stack's
// secret, valid for an hour, so that the authorizer's sample event is
// authorized.
func (st *Stack) Event(raw []byte) ([]byte, error) {
	tok, err := auth.Mint(st.TokenSecret, samtemplate.EventCustomerID, time.Hour, time.Now())
	if err != nil {
		return nil, err
	}
	return bytes.ReplaceAll(raw, []byte(samtemplate.TokenPlaceholder), []byte(tok)), nil
}

// Function returns the template's function called id: its LogicalId
// (CreateOutdialFunction) or its name (create-outdial).
func Function(tpl *samtemplate.Template, id string) (*samtemplate.Function, error) {
	if f := tpl.Functions[id]; f != nil {
		return f, nil
	}
	var ids []string
	for lid, f := range tpl.Functions {
		if f.Name == id {
			return f, nil
		}
		ids = append(ids, lid)
	}
	sort.Strings(ids)
	return nil, fmt.Errorf("no function %q in the template; one of %v", id, ids)
}

// Answers reports whether a DynamoDB (kind "dynamodb") or SQS (kind "sqs")
// endpoint answers within a second.
func Answers(ctx context.Context, kind, endpoint string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	switch kind {
	case "dynamodb":
		c, err := localstack.DynamoDBClient(ctx, endpoint)
		if err != nil {
			return false
		}
		_, err = c.ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)}, func(o *dynamodb.Options) { o.Retryer = aws.NopRetryer{} })
		return err == nil
	case "sqs":
		c, err := localstack.SQSClient(ctx, endpoint)
		if err != nil {
			return false
		}
		_, err = c.ListQueues(ctx, &sqs.ListQueuesInput{}, func(o *sqs.Options) { o.Retryer = aws.NopRetryer{} })
		return err == nil
	}
	return false
}
