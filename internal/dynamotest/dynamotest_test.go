package dynamotest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestMain(m *testing.M) { Main(m) }

func TestTable(t *testing.T) {
	SkipShort(t, "DynamoDB Local")
	var client *dynamodb.Client
	var name string
	t.Run("put and get", func(t *testing.T) {
		client, name = Table(t)
		putGet(t, client, name)
	})

	// The subtest's cleanup has deleted its table.
	_, err := client.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Errorf("DescribeTable after cleanup: %v, want ResourceNotFoundException", err)
	}
}

func TestTableIsFresh(t *testing.T) {
	_, a := Table(t)
	_, b := Table(t)
	if a == b {
		t.Errorf("two tables of one test share the name %s", a)
	}
}

func TestTableName(t *testing.T) {
	valid := regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)
	tests := []string{
		"TestX",
		"TestStore/create outdial/ünïcode",
		strings.Repeat("TestLong/", 60),
	}
	for _, in := range tests {
		got := tableName(in)
		if !valid.MatchString(got) {
			t.Errorf("tableName(%q) = %q, not a valid table name", in, got)
		}
		if again := tableName(in); again == got {
			t.Errorf("tableName(%q) twice = %q, want unique names", in, got)
		}
	}
}

func TestEndpoint(t *testing.T) {
	SkipShort(t, "DynamoDB Local")
	if got := Endpoint(); !strings.HasPrefix(got, "http://") {
		t.Errorf("Endpoint = %q, want an http URL", got)
	}
}

// TestMainStopsDynamoDB runs a test binary that starts its own DynamoDB
// Local and checks that the JVM is gone once that binary has exited: after
// a normal exit through Main, and after the binary is killed outright.
func TestMainStopsDynamoDB(t *testing.T) {
	SkipShort(t, "DynamoDB Local, started twice")
	for _, mode := range []string{"exit", "killed"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.count=1", "-test.v")
			cmd.Env = append(withoutEnv(os.Environ(), EnvEndpoint), "DYNAMOTEST_CHILD="+mode)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()

			// Read the child's DynamoDB Local pid and log file.
			pid, logPath := 0, ""
			var out strings.Builder
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				fmt.Fprintln(&out, sc.Text())
				if v, ok := strings.CutPrefix(sc.Text(), "dynamodb-local pid "); ok {
					p, path, _ := strings.Cut(v, " log ")
					pid, _ = strconv.Atoi(p)
					logPath = path
					break
				}
			}
			if pid == 0 {
				cmd.Wait()
				t.Fatalf("child printed no pid; output:\n%s", out.String())
			}

			if mode == "killed" {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				// Nobody stopped the JVM cleanly, so its log stays.
				defer os.Remove(logPath)
			}
			for sc.Scan() {
				fmt.Fprintln(&out, sc.Text())
			}
			err = cmd.Wait()
			if mode == "exit" && err != nil {
				t.Fatalf("child: %v; output:\n%s", err, out.String())
			}

			// Main reaps the JVM before exiting; after a kill, Pdeathsig
			// kills it and init reaps it, which can take a moment.
			deadline := time.Now().Add(5 * time.Second)
			for running(pid) {
				if time.Now().After(deadline) {
					syscall.Kill(pid, syscall.SIGKILL)
					t.Fatalf("dynamodb-local %d still runs after its test binary ended (%s)", pid, mode)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// TestChild is the test binary's part in TestMainStopsDynamoDB.
func TestChild(t *testing.T) {
	mode := os.Getenv("DYNAMOTEST_CHILD")
	if mode == "" {
		t.Skip("run by TestMainStopsDynamoDB")
	}
	client, name := Table(t)
	putGet(t, client, name)
	fmt.Printf("dynamodb-local pid %d log %s\n", shared.proc.PID(), shared.proc.LogPath)
	if mode == "killed" {
		time.Sleep(time.Minute) // until the parent kills this process
	}
}

// putGet writes an item to table and reads it back.
func putGet(t *testing.T, client *dynamodb.Client, table string) {
	t.Helper()
	item := map[string]types.AttributeValue{
		"PK":    &types.AttributeValueMemberS{Value: "OUTDIAL#7"},
		"SK":    &types.AttributeValueMemberS{Value: "META"},
		"count": &types.AttributeValueMemberN{Value: "42"},
	}
	if _, err := client.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
	out, err := client.GetItem(t.Context(), &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            map[string]types.AttributeValue{"PK": item["PK"], "SK": item["SK"]},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := out.Item["count"].(*types.AttributeValueMemberN)
	if got == nil || got.Value != "42" {
		t.Errorf("GetItem count = %v, want 42", out.Item["count"])
	}
}

// running reports whether pid is a live process (a zombie is not).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...; comm may contain spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(s[i+1:], " Z")
}

// withoutEnv returns env without the variable key.
func withoutEnv(env []string, key string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}
