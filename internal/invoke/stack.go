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

	"github.com/outdial/outdial/internal/auth"
	"github.com/outdial/outdial/internal/localrun"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/samtemplate"
)

// What `make run` (cmd/outdial-local) listens on and names its table and
// queues; `make invoke` points functions at it when it is running.
const (
	DefaultDynamoDBEndpoint = "http://127.0.0.1:8000"
	DefaultSQSEndpoint      = "http://127.0.0.1:9324"
	DefaultTableName        = localrun.DefaultTableName
)

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

	res *localrun.Resources
}

// StartStack prepares the stand-ins with localrun.Provision: it starts
// those it is not given, and creates the table and, with SQS, the queues
// (an existing queue, `make run`'s, is used as it is). Close stops what it
// started.
func StartStack(ctx context.Context, opt StackOptions) (*Stack, error) {
	if opt.Template == nil {
		return nil, errors.New("invoke: StackOptions.Template is nil")
	}
	res, err := localrun.Provision(ctx, localrun.ProvisionOptions{
		Root: opt.Root, Template: opt.Template, TableName: opt.TableName, TokenSecret: opt.TokenSecret,
		DynamoDBEndpoint: opt.DynamoDBEndpoint, SQSEndpoint: opt.SQSEndpoint, NoSQS: !opt.SQS,
	})
	if err != nil {
		return nil, err
	}
	st := &Stack{
		DynamoDBEndpoint: res.DynamoDBEndpoint, SQSEndpoint: res.SQSEndpoint,
		TableName: res.TableName, TokenSecret: res.TokenSecret, Template: res.Template,
		QueueURLs: map[string]string{}, res: res,
	}
	for id, q := range res.Queues {
		st.QueueURLs[id] = q.URL
	}
	return st, nil
}

// Close stops the stand-ins StartStack started; the table and queues of a
// stand-in it was given stay.
func (st *Stack) Close() error {
	if st.res == nil {
		return nil
	}
	return st.res.Close()
}

// resources returns the stack's fields as localrun.Resources.
func (st *Stack) resources() *localrun.Resources {
	r := &localrun.Resources{
		DynamoDBEndpoint: st.DynamoDBEndpoint, SQSEndpoint: st.SQSEndpoint,
		TableName: st.TableName, TokenSecret: st.TokenSecret, Template: st.Template,
		Queues: map[string]*localrun.Queue{},
	}
	for id, u := range st.QueueURLs {
		r.Queues[id] = &localrun.Queue{LogicalID: id, URL: u}
	}
	return r
}

// Env returns the whole environment of fn under the emulator: what
// localrun.Resources.Env gives it (the template's variables resolved for
// this stack, the local endpoints), dummy AWS credentials, and what Lambda
// itself sets (function name, memory size, region).
func (st *Stack) Env(fn *samtemplate.Function) (map[string]string, error) {
	env, unresolved := st.resources().Env(fn)
	if len(unresolved) > 0 {
		return nil, fmt.Errorf("%s: cannot resolve the environment variables %v for the local stack (a queue needs the SQS stand-in)", fn.LogicalID, unresolved)
	}
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":               localstack.AccessKeyID(),
		"AWS_SECRET_ACCESS_KEY":           "local",
		"AWS_REGION":                      localstack.Region,
		"AWS_DEFAULT_REGION":              localstack.Region,
		"AWS_EC2_METADATA_DISABLED":       "true",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(fn.MemorySize),
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"TZ":                              ":UTC",
	} {
		env[k] = v
	}
	return env, nil
}

// UsesQueues reports whether fn's environment refers to a queue of the
// template (it then needs StackOptions.SQS): whether it resolves more of
// it with the queues than without.
func UsesQueues(tpl *samtemplate.Template, fn *samtemplate.Function) bool {
	r := &localrun.Resources{Template: tpl, TableName: "x", TokenSecret: "x"}
	_, without := r.Env(fn)
	r.Queues = map[string]*localrun.Queue{}
	for id := range tpl.Resources("AWS::SQS::Queue") {
		r.Queues[id] = &localrun.Queue{LogicalID: id, URL: "x"}
	}
	_, with := r.Env(fn)
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
