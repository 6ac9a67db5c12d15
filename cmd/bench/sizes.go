package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// sizeRow is one function's bootstrap size.
type sizeRow struct {
	Name  string
	Bytes int64
}

// binarySizes builds every functions/<name> as the Lambda bootstrap is
// built (linux/arm64, CGO off, -tags lambda.norpc, -trimpath, stripped),
// into a temporary directory, and returns the sizes by name.
func binarySizes(ctx context.Context, root string) ([]sizeRow, error) {
	dir, err := os.MkdirTemp("", "outdial-bench-sizes-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w",
		"-o", dir+string(filepath.Separator), "./functions/...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build bootstraps: %w\n%s", err, out)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var rows []sizeRow
	for _, de := range entries {
		fi, err := de.Info()
		if err != nil {
			return nil, err
		}
		rows = append(rows, sizeRow{Name: de.Name(), Bytes: fi.Size()})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows, nil
}

// coldStartRow is one cold start figure.
type coldStartRow struct {
	Name  string // function
	Value string // e.g. "84 ms init"
}

// coldStartHook measures cold starts under the Lambda runtime emulator,
// starting each function runs times. It is nil until another file of this
// command sets it (in an init function); root is the repository root.
// While it is nil the bench runs scripts/coldstart.sh if that exists, else
// prints "n/a (see make invoke)".
var coldStartHook func(ctx context.Context, root string, runs int) ([]coldStartRow, error)

// coldStartScript is the script the bench runs for cold starts when no
// hook is set. Contract: it takes no arguments, reads nothing on stdin,
// exits 0, and prints one line per function, "<function> <figure...>"
// (e.g. "get-outdial 84 ms init, 3 ms first invoke"); lines starting
// with # are ignored.
const coldStartScript = "scripts/coldstart.sh"

// coldStarts returns the cold start rows, or a note why there are none.
// script is the path of coldStartScript under root; runs is how often the
// hook starts each function (the script decides for itself).
func coldStarts(ctx context.Context, root, script string, runs int) ([]coldStartRow, string) {
	if coldStartHook != nil {
		rows, err := coldStartHook(ctx, root, runs)
		if err != nil {
			return nil, "error: " + err.Error()
		}
		return rows, ""
	}
	if fi, err := os.Stat(script); err != nil || fi.Mode()&0o111 == 0 {
		return nil, "n/a (see make invoke)"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Sprintf("error: %s: %v: %s", coldStartScript, err, strings.TrimSpace(stderr.String()))
	}
	var rows []coldStartRow
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, _ := strings.Cut(line, " ")
		rows = append(rows, coldStartRow{Name: name, Value: strings.TrimSpace(value)})
	}
	if len(rows) == 0 {
		return nil, coldStartScript + " printed nothing"
	}
	return rows, ""
}
