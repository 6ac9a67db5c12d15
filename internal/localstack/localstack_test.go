package localstack

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/outdial/outdial/internal/dynamo"
)

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if got := modulePath(filepath.Join(root, "go.mod")); got != ModulePath {
		t.Errorf("module of %s/go.mod = %q, want %q", root, got, ModulePath)
	}
	wd, _ := os.Getwd()
	if rel, err := filepath.Rel(root, wd); err != nil || strings.HasPrefix(rel, "..") {
		t.Errorf("root %s is not above the working directory %s", root, wd)
	}
}

func TestModulePath(t *testing.T) {
	tests := []struct {
		name, gomod, want string
	}{
		{"plain", "module github.com/outdial/outdial\n\ngo 1.26\n", ModulePath},
		{"quoted", "module \"github.com/outdial/outdial\"\n", ModulePath},
		{"comment", "// header\nmodule github.com/outdial/outdial // the service\n", ModulePath},
		{"other module", "module example.com/other\n", "example.com/other"},
		{"no module", "go 1.26\n", ""},
		{"modulex is not module", "modulex example.com/x\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "go.mod")
			if err := os.WriteFile(path, []byte(tt.gomod), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := modulePath(path); got != tt.want {
				t.Errorf("modulePath = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseProcAddr(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"0100007F", "127.0.0.1"},
		{"00000000", "0.0.0.0"},
		{"00000000000000000000000000000000", "::"},
		{"00000000000000000000000001000000", "::1"},
		{"0000000000000000FFFF00000100007F", "127.0.0.1"}, // ::ffff:127.0.0.1
	}
	for _, tt := range tests {
		got, err := parseProcAddr(tt.in)
		if err != nil {
			t.Errorf("parseProcAddr(%q): %v", tt.in, err)
			continue
		}
		if got != netip.MustParseAddr(tt.want) {
			t.Errorf("parseProcAddr(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if _, err := parseProcAddr("0100"); err == nil {
		t.Error("parseProcAddr(0100): got no error")
	}
}

func TestRing(t *testing.T) {
	r := &ring{max: 8}
	for _, s := range []string{"abc", "defgh", "ijklmnopqrstuvwxyz", "12"} {
		r.Write([]byte(s))
	}
	if got, want := r.String(), "uvwxyz12"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got, want := r.Tail(3), "z12"; got != want {
		t.Errorf("Tail(3) = %q, want %q", got, want)
	}
}

func TestStartDynamoDB(t *testing.T) {
	root := standInRoot(t)
	ctx := t.Context()

	p, err := StartDynamoDB(ctx, root, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	t.Logf("DynamoDB Local on %s answered %v after exec", p.Endpoint, p.StartupTime)
	if !strings.HasPrefix(p.Endpoint, "http://127.0.0.1:") {
		t.Errorf("Endpoint = %q, want http://127.0.0.1:PORT", p.Endpoint)
	}

	// Create a table, put an item, read it back.
	client, err := DynamoDBClient(ctx, p.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if err := dynamo.CreateTable(ctx, client, dynamo.CreateTableInput("localstack")); err != nil {
		t.Fatal(err)
	}
	item := map[string]types.AttributeValue{
		"PK":   &types.AttributeValueMemberS{Value: "OUTDIAL#1"},
		"SK":   &types.AttributeValueMemberS{Value: "META"},
		"name": &types.AttributeValueMemberS{Value: "spring campaign"},
	}
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("localstack"), Item: item}); err != nil {
		t.Fatal(err)
	}
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String("localstack"),
		Key:            map[string]types.AttributeValue{"PK": item["PK"], "SK": item["SK"]},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	name, _ := out.Item["name"].(*types.AttributeValueMemberS)
	if name == nil || name.Value != "spring campaign" {
		t.Errorf("GetItem name = %v, want spring campaign", out.Item["name"])
	}

	// -sharedDb: a client with another access key sees the same table.
	if !tableSeenWithKey(t, p.Endpoint, "other", "localstack") {
		t.Error("StartDynamoDB: a client with another access key does not see the table")
	}

	assertStops(t, p)
}

// StartDynamoDBPerKey keeps a database per access key: a table made with
// one key is not there for another, and is for the same key.
func TestStartDynamoDBPerKey(t *testing.T) {
	root := standInRoot(t)
	ctx := t.Context()
	p, err := StartDynamoDBPerKey(ctx, root, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	t.Setenv(EnvAccessKeyID, "first")
	client, err := DynamoDBClient(ctx, p.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if err := dynamo.CreateTable(ctx, client, dynamo.CreateTableInput("perkey")); err != nil {
		t.Fatal(err)
	}
	if !tableSeenWithKey(t, p.Endpoint, "first", "perkey") {
		t.Error("the table is not there for the key that made it")
	}
	if tableSeenWithKey(t, p.Endpoint, "second", "perkey") {
		t.Error("a client with another access key sees the table")
	}
	assertStops(t, p)
}

// tableSeenWithKey reports whether a client with access key id key lists
// table at endpoint.
func tableSeenWithKey(t *testing.T, endpoint, key, table string) bool {
	t.Helper()
	t.Setenv(EnvAccessKeyID, key)
	client, err := DynamoDBClient(t.Context(), endpoint)
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.ListTables(t.Context(), &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	return slices.Contains(out.TableNames, table)
}

func TestStartSQS(t *testing.T) {
	root := standInRoot(t)
	ctx := t.Context()

	p, err := StartSQS(ctx, root, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	t.Logf("fauxqs on %s answered %v after exec", p.Endpoint, p.StartupTime)

	// fauxqs itself binds 0.0.0.0; the shim must have moved it to loopback.
	ls, err := tcpListeners(p.Port)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) == 0 {
		t.Errorf("no listening socket on port %d", p.Port)
	}
	for _, l := range ls {
		if !l.Addr.IsLoopback() {
			t.Errorf("fauxqs listens on %v, want loopback only", l.Addr)
		}
	}

	// Create a queue, send a message, receive it.
	client, err := SQSClient(ctx, p.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("outcomes")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("hello")}); err != nil {
		t.Fatal(err)
	}
	got, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 1 || aws.ToString(got.Messages[0].Body) != "hello" {
		t.Errorf("ReceiveMessage = %+v, want one message hello", got.Messages)
	}

	checkFIFOReceive(t, client)
	assertStops(t, p)
}

// checkFIFOReceive: a FIFO receive hands out as many messages of a group
// as it may, in order, before another group's, as SQS does (fauxqs 1.9
// alone hands out one per group); none while one of the group is in
// flight; and messages made visible again come back first, in order, with
// the group's later ones.
func checkFIFOReceive(t *testing.T, client *sqs.Client) {
	t.Helper()
	ctx := t.Context()
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("deliveries.fifo"),
		Attributes: map[string]string{"FifoQueue": "true", "VisibilityTimeout": "30"}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(group string, bodies ...string) {
		for _, b := range bodies {
			if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(b),
				MessageGroupId: aws.String(group), MessageDeduplicationId: aws.String(b)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	receive := func() ([]string, []string) {
		got, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		var bodies, handles []string
		for _, m := range got.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			handles = append(handles, aws.ToString(m.ReceiptHandle))
		}
		return bodies, handles
	}
	visible := func(handle string, secs int32) {
		if _, err := client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: q.QueueUrl, ReceiptHandle: aws.String(handle), VisibilityTimeout: secs}); err != nil {
			t.Fatal(err)
		}
	}
	send("a", "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a10")
	send("b", "b0", "b1")
	bodies, handles := receive()
	if want := []string{"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"}; !slices.Equal(bodies, want) {
		t.Fatalf("FIFO receive = %v, want %v (group a first, in order)", bodies, want)
	}
	if more, _ := receive(); !slices.Equal(more, []string{"b0", "b1"}) {
		t.Errorf("received %v while group a is in flight, want b0 b1", more)
	}
	// a0 and a1 back at once, a2 and a3 in a second; the rest done; then
	// more of the group.
	visible(handles[0], 0)
	visible(handles[1], 0)
	visible(handles[2], 1)
	visible(handles[3], 1)
	for _, h := range handles[4:] {
		if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: aws.String(h)}); err != nil {
			t.Fatal(err)
		}
	}
	send("a", "a11")
	time.Sleep(1100 * time.Millisecond)
	if bodies, _ := receive(); !slices.Equal(bodies, []string{"a0", "a1", "a2", "a3", "a10", "a11"}) {
		t.Errorf("after the visibility changes: %v, want a0 a1 a2 a3 a10 a11", bodies)
	}
}

func TestStopAfterCrash(t *testing.T) {
	root := standInRoot(t)
	p, err := StartSQS(t.Context(), root, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(p.LogPath)
	if err := syscall.Kill(p.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("process did not exit after SIGKILL")
	}
	err = p.Stop()
	if err == nil || !strings.Contains(err.Error(), "exited before Stop") {
		t.Errorf("Stop after crash = %v, want an 'exited before Stop' error", err)
	}
	if again := p.Stop(); again != err {
		t.Errorf("second Stop = %v, want the first result %v", again, err)
	}
	if _, statErr := os.Stat(p.LogPath); statErr != nil {
		t.Errorf("log of a crashed process: %v, want it kept", statErr)
	}
}

func TestStartOnTakenPort(t *testing.T) {
	root := standInRoot(t)

	// Another server already answers on the port, like SQS would.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Write([]byte(`{"QueueUrls":[]}`))
	}))
	defer other.Close()
	port := other.Listener.Addr().(*net.TCPAddr).Port

	p, err := StartSQS(t.Context(), root, port)
	if err == nil {
		p.Stop()
		t.Fatal("StartSQS on a taken port succeeded")
	}
	if !errors.Is(err, errPortInUse) {
		t.Errorf("StartSQS on a taken port: %v, want errPortInUse", err)
	}
	os.Remove(filepath.Join(root, localDir, "logs", "fauxqs-"+strconv.Itoa(port)+".log"))
}

// standInRoot returns the repository root, skipping the test in -short mode
// and installing the stand-ins if needed.
func standInRoot(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a stand-in process")
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := EnsureNodeModules(root); err != nil {
		t.Fatal(err)
	}
	return root
}

// assertStops stops p and checks that nothing of it is left: no process,
// no zombie, no process group, no log file; and that Stop is idempotent.
func assertStops(t *testing.T, p *Process) {
	t.Helper()
	pid := p.PID()
	began := time.Now()
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("%s stopped in %v", p.Name, time.Since(began))
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	// A zombie would still have /proc/PID; a reaped process has none.
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("/proc/%d after Stop: %v, want it gone", pid, err)
	}
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process group %d after Stop: kill 0 = %v, want ESRCH", pid, err)
	}
	if _, err := os.Stat(p.LogPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("log %s after a clean Stop: %v, want it removed", p.LogPath, err)
	}
	c := &http.Client{Timeout: time.Second}
	if _, err := c.Get(p.Endpoint); err == nil {
		t.Errorf("%s still answers after Stop", p.Endpoint)
	}
}
