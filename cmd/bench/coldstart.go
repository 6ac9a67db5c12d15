package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/outdial/outdial/internal/invoke"
	"github.com/outdial/outdial/internal/samtemplate"
)

// Cold starts come from internal/invoke: every function's bootstrap, built
// for this machine, runs under the Lambda Runtime Interface Emulator with
// the environment the template gives it, pointed at a local stack of its
// own; the figure is from starting the emulator process to the first
// response to the function's events/ payload.
func init() { coldStartHook = measureColdStarts }

func measureColdStarts(ctx context.Context, root string) ([]coldStartRow, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	rie, err := invoke.InstallRIE(ctx, root, os.Stderr)
	if err != nil {
		return nil, err
	}
	tpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		return nil, err
	}
	var fns []*samtemplate.Function
	for _, f := range tpl.Functions {
		fns = append(fns, f)
	}
	sort.Slice(fns, func(i, j int) bool { return fns[i].Name < fns[j].Name })
	paths, err := invoke.Build(ctx, root, filepath.Join(root, ".local", "bench-coldstart"), fns...)
	if err != nil {
		return nil, err
	}
	st, err := invoke.StartStack(ctx, invoke.StackOptions{
		Root: root, Template: tpl, TableName: fmt.Sprintf("bench-coldstart-%d", time.Now().UnixNano()), SQS: true,
	})
	if err != nil {
		return nil, err
	}
	defer st.Close()

	var rows []coldStartRow
	for _, fn := range fns {
		env, err := st.Env(fn)
		if err != nil {
			return nil, err
		}
		raw, err := os.ReadFile(samtemplate.EventPath(root, fn.Name))
		if err != nil {
			return nil, err
		}
		ev, err := st.Event(raw)
		if err != nil {
			return nil, err
		}
		res, _, err := invoke.Run(ctx, invoke.Options{
			RIE: rie, Bootstrap: paths[fn.Name], Env: env, Timeout: time.Duration(fn.Timeout) * time.Second,
		}, ev)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn.Name, err)
		}
		rows = append(rows, coldStartRow{
			Name:  fn.Name,
			Value: fmt.Sprintf("%.0f ms cold (process start to first response), first invoke %.0f ms", ms(res.ColdStart), ms(res.Latency)),
		})
	}
	return rows, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
