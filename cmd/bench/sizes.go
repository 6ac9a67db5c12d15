package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
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
