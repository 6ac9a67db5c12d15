// Command invoke is `make invoke FN=<LogicalId> EVENT=events/<file>.json`:
// `sam local invoke` without Docker. It builds the function's bootstrap for
// this machine, runs it under the AWS Lambda Runtime Interface Emulator
// (the tool go.mod pins, built into .local/bin) on 127.0.0.1 with the
// environment the template gives the function, pointed at the local stack,
// posts the event, prints the function's response on standard output and
// the cold-start figures on standard error, and stops the emulator.
//
// The local stack is `make run`'s when it is running (DynamoDB Local on
// 127.0.0.1:8000, the SQS stand-in on 127.0.0.1:9324, table outdial-local);
// otherwise the stand-ins are started for this one invoke and stopped
// afterwards. The event's "Bearer <token>" becomes a fresh token for the
// sample events' customer, so the authorizer's event is authorized.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/outdial/outdial/internal/invoke"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/samtemplate"
)

func main() {
	fn := flag.String("fn", "", "the function: its LogicalId (CreateOutdialFunction) or name (create-outdial)")
	event := flag.String("event", "", "the event file (default events/<name>.json)")
	table := flag.String("table", invoke.DefaultTableName, "the table the template's table resolves to")
	ddb := flag.String("dynamodb", os.Getenv(localstack.EnvDynamoDBEndpoint), "DynamoDB endpoint (default: "+invoke.DefaultDynamoDBEndpoint+" if it answers, else a DynamoDB Local started for this invoke)")
	sqsEndpoint := flag.String("sqs", os.Getenv(localstack.EnvSQSEndpoint), "SQS endpoint (default: "+invoke.DefaultSQSEndpoint+" if it answers, else fauxqs started for this invoke)")
	logs := flag.Bool("logs", true, "copy the emulator's and the function's output to standard error")
	installOnly := flag.Bool("install-rie", false, "only install the emulator into .local/bin and print its path")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *fn, *event, *table, *ddb, *sqsEndpoint, *logs, *installOnly); err != nil {
		fmt.Fprintln(os.Stderr, "invoke:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, fnID, eventPath, table, ddb, sqsEndpoint string, logs, installOnly bool) error {
	root, err := localstack.RepoRoot()
	if err != nil {
		return err
	}
	rie, err := invoke.InstallRIE(ctx, root, os.Stderr)
	if err != nil {
		return err
	}
	if installOnly {
		fmt.Println(rie)
		return nil
	}
	if fnID == "" {
		return errors.New("usage: make invoke FN=<LogicalId> [EVENT=events/<function>.json]")
	}
	tpl, err := samtemplate.LoadRoot(root)
	if err != nil {
		return err
	}
	fn, err := invoke.Function(tpl, fnID)
	if err != nil {
		return err
	}
	if eventPath == "" {
		eventPath = samtemplate.EventPath(root, fn.Name)
	}
	raw, err := os.ReadFile(eventPath)
	if err != nil {
		return err
	}

	// Build the bootstrap.
	started := time.Now()
	paths, err := invoke.Build(ctx, root, filepath.Join(root, ".local", "invoke"), fn)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "invoke: built %s for this machine in %s\n", paths[fn.Name], time.Since(started).Round(time.Millisecond))

	// The local stack: make run's if it is up.
	if ddb == "" && invoke.Answers(ctx, "dynamodb", invoke.DefaultDynamoDBEndpoint) {
		ddb = invoke.DefaultDynamoDBEndpoint
	}
	useSQS := invoke.UsesQueues(tpl, fn)
	if useSQS && sqsEndpoint == "" && invoke.Answers(ctx, "sqs", invoke.DefaultSQSEndpoint) {
		sqsEndpoint = invoke.DefaultSQSEndpoint
	}
	st, err := invoke.StartStack(ctx, invoke.StackOptions{
		Root: root, Template: tpl, TableName: table,
		DynamoDBEndpoint: ddb, SQS: useSQS, SQSEndpoint: sqsEndpoint,
		TokenSecret: os.Getenv("OUTDIAL_TOKEN_SECRET"),
	})
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(os.Stderr, "invoke: DynamoDB %s, table %s", st.DynamoDBEndpoint, st.TableName)
	if st.SQSEndpoint != "" {
		fmt.Fprintf(os.Stderr, ", SQS %s", st.SQSEndpoint)
	}
	fmt.Fprintln(os.Stderr)

	env, err := st.Env(fn)
	if err != nil {
		return err
	}
	ev, err := st.Event(raw)
	if err != nil {
		return err
	}
	var out io.Writer
	if logs {
		out = os.Stderr
	}
	res, _, err := invoke.Run(ctx, invoke.Options{
		RIE: rie, Bootstrap: paths[fn.Name], Env: env,
		Timeout: time.Duration(fn.Timeout) * time.Second, Output: out,
	}, ev)
	if err != nil {
		return err
	}

	// The response, indented when it is JSON.
	var pretty bytes.Buffer
	if json.Indent(&pretty, res.Payload, "", "  ") == nil {
		res.Payload = pretty.Bytes()
	}
	fmt.Printf("%s\n", res.Payload)
	fmt.Fprintf(os.Stderr, "invoke: %s (%s): cold start %s (emulator process start to first response), invoke %s, emulator init %s\n",
		fn.LogicalID, fn.Name, ms(res.ColdStart), ms(res.Latency), ms(res.Init))
	if res.Status != 200 {
		return fmt.Errorf("the emulator answered %d: the function failed", res.Status)
	}
	return nil
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}
