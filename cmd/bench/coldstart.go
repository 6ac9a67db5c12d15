package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/invoke"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/samtemplate"
)

// coldStartRow is one cold start figure.
type coldStartRow struct {
	Name   string        // function
	Median time.Duration // the median cold start (process start to first response)
	Value  string        // e.g. "84 ms cold, median of 5 (...), ..."
}

// coldStarts returns the cold start rows, or a note why there are none;
// root is the repository root, runs how often each function is started.
func coldStarts(ctx context.Context, root string, runs int) ([]coldStartRow, string) {
	rows, err := measureColdStarts(ctx, root, runs)
	if err != nil {
		return nil, "error: " + err.Error()
	}
	return rows, ""
}

// measureColdStarts measures cold starts with internal/invoke: every
// function's bootstrap, built for this machine, runs under the Lambda
// Runtime Interface Emulator with the environment the template gives it,
// pointed at a local stack of its own. The figure is from the start of the
// function's process to its first response to its events/ payload, as the
// emulator reports it: the Init Duration of its REPORT line plus the
// first invoke's Duration (this emulator starts the bootstrap inside the
// first invoke and reports an Init Duration of about 0.1 ms, so nearly
// all of it is in Duration). The emulator's own start (a sandbox being made
// ready, on Lambda) comes before and is shown apart. Each function is
// started runs times, in rounds (every function once, then again), so
// that a passing burst of load spreads over all of them; the row gives
// the median.
func measureColdStarts(ctx context.Context, root string, runs int) ([]coldStartRow, error) {
	if runs < 1 {
		runs = 1
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	rie, err := invoke.InstallRIE(ctx, root, os.Stderr)
	if err != nil {
		return nil, err
	}
	tpl, err := samtemplate.LoadRoot(root)
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
	if err := warmStandIn(ctx, st.DynamoDBEndpoint, st.TableName, standInWarmup); err != nil {
		return nil, err
	}

	// The environment and event of each function, then the rounds.
	type subject struct {
		opt                             invoke.Options
		event                           []byte
		cold, whole, first, ready, warm []time.Duration
	}
	subjects := make([]*subject, len(fns))
	for i, fn := range fns {
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
		subjects[i] = &subject{
			opt:   invoke.Options{RIE: rie, Bootstrap: paths[fn.Name], Env: env, Timeout: time.Duration(fn.Timeout) * time.Second},
			event: ev,
		}
	}
	for range runs {
		for i, s := range subjects {
			ready, res, warm, err := coldStart(ctx, s.opt, s.event)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fns[i].Name, err)
			}
			if res.Init <= 0 {
				return nil, fmt.Errorf("%s: the emulator reported no Init Duration for the first invoke", fns[i].Name)
			}
			s.cold = append(s.cold, res.Init+res.Duration)
			s.whole = append(s.whole, res.ColdStart)
			s.first = append(s.first, res.Latency)
			s.ready = append(s.ready, ready)
			s.warm = append(s.warm, warm)
		}
	}

	var rows []coldStartRow
	for i, s := range subjects {
		rows = append(rows, coldStartRow{Name: fns[i].Name, Median: median(s.cold), Value: coldStartFigure(s.cold, s.whole, s.first, s.ready, s.warm)})
	}
	return rows, nil
}

// standInWarmup is how many requests warmStandIn sends DynamoDB Local
// before the rounds.
const standInWarmup = 4000

// warmStandIn readies what a function's cold start on Lambda finds ready,
// so that the rounds measure the function: DynamoDB, a service that is
// always warm. DynamoDB Local compiles its request paths (the one that
// takes a new connection among them) as it serves them: in an experiment
// here, 10 parallel Queries from a fresh process took 18–40 ms (9–20 from
// the same process again) before any warmup, and 9–22 (5–13) after 6 000
// requests. So it is sent requests of the kinds the functions make, in
// bursts of 10 on new connections, as a function's first response makes
// them (each burst's connections are closed after it): reads of the
// stack's table, and writes to a table of their own without a stream
// (stream records of the stack's table would slow every later write to
// it), deleted afterwards.
func warmStandIn(ctx context.Context, endpoint, table string, requests int) error {
	db, err := localstack.DynamoDBClient(ctx, endpoint)
	if err != nil {
		return err
	}
	scratch := table + "-warmup"
	in := dynamo.CreateTableInput(scratch)
	in.StreamSpecification = nil
	if err := dynamo.CreateTable(ctx, db, in); err != nil {
		return fmt.Errorf("warm DynamoDB Local: %w", err)
	}
	defer db.DeleteTable(context.WithoutCancel(ctx), &dynamodb.DeleteTableInput{TableName: &scratch})
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	item := func(pk, sk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"PK": s(pk), "SK": s(sk)}
	}
	requestsOf := []func(ctx context.Context, db *dynamodb.Client, n int) error{
		func(ctx context.Context, db *dynamodb.Client, n int) error {
			_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, ConsistentRead: aws.Bool(true), Key: item(fmt.Sprint("WARMUP#", n), "#HEAD")})
			return err
		},
		func(ctx context.Context, db *dynamodb.Client, n int) error {
			_, err := db.Query(ctx, &dynamodb.QueryInput{TableName: &table,
				KeyConditionExpression:    aws.String("PK = :pk AND begins_with(SK, :sk)"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s(fmt.Sprint("WARMUP#", n)), ":sk": s("#C#")}})
			return err
		},
		func(ctx context.Context, db *dynamodb.Client, n int) error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &scratch, Item: item(fmt.Sprint("W#", n%50), "#HEAD"),
				ConditionExpression: aws.String("attribute_not_exists(PK) OR attribute_exists(SK)")})
			return err
		},
		func(ctx context.Context, db *dynamodb.Client, n int) error {
			_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &scratch, Key: item(fmt.Sprint("W#", n%50), "#C#000"),
				UpdateExpression: aws.String("ADD n :one"), ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}}})
			return err
		},
		func(ctx context.Context, db *dynamodb.Client, n int) error {
			_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
				{Put: &types.Put{TableName: &scratch, Item: item(fmt.Sprint("T#", n), "A")}},
				{Update: &types.Update{TableName: &scratch, Key: item(fmt.Sprint("T#", n), "B"), UpdateExpression: aws.String("SET v = :v"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":v": s("x")}}},
			}})
			return err
		},
		func(ctx context.Context, db *dynamodb.Client, n int) error {
			var reqs []types.WriteRequest
			for i := range 5 {
				reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item(fmt.Sprint("B#", n%20), fmt.Sprint(i))}})
			}
			_, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{scratch: reqs}})
			return err
		},
		func(ctx context.Context, db *dynamodb.Client, n int) error {
			_, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
				table: {Keys: []map[string]types.AttributeValue{item(fmt.Sprint("WARMUP#", n), "#HEAD"), item(fmt.Sprint("WARMUP#", n+1), "#HEAD")}},
			}})
			return err
		},
	}
	const burst = 10
	for sent := 0; sent < requests; sent += burst {
		tr := &http.Transport{MaxIdleConnsPerHost: burst}
		fresh := dynamodb.New(db.Options(), func(o *dynamodb.Options) { o.HTTPClient = &http.Client{Transport: tr} })
		g, gctx := errgroup.WithContext(ctx)
		for i := range burst {
			n := sent + i
			g.Go(func() error { return requestsOf[n%len(requestsOf)](gctx, fresh, n) })
		}
		err := g.Wait()
		tr.CloseIdleConnections()
		if err != nil {
			return fmt.Errorf("warm DynamoDB Local: %w", err)
		}
	}
	return nil
}

// warmInvokes is how often coldStart invokes a function again after its
// first, cold invoke.
const warmInvokes = 3

// coldStart starts the emulator with a function, invokes it once with
// event, like invoke.Run, then warmInvokes times more, and stops it. It
// also returns how long the emulator took to listen (Session.Ready), the
// part of the cold start that is the emulator's own, and the median
// latency of the warm invokes: the function's work itself (its DynamoDB
// requests against DynamoDB Local), which the first invoke pays too. The
// same event again may take another path, a shorter one (a second delete
// finds nothing) or a longer one (process-outcomes), so first − warm is a
// guide to what being cold adds, not an exact split.
func coldStart(ctx context.Context, opt invoke.Options, event []byte) (time.Duration, *invoke.Result, time.Duration, error) {
	s, err := invoke.Start(ctx, opt)
	if err != nil {
		return 0, nil, 0, err
	}
	defer s.Stop()
	res, err := s.Invoke(ctx, event)
	if err != nil {
		return 0, nil, 0, err
	}
	var warm []time.Duration
	for range warmInvokes {
		again, err := s.Invoke(ctx, event)
		if err != nil {
			return 0, nil, 0, err
		}
		warm = append(warm, again.Latency)
	}
	return s.Ready, res, median(warm), nil
}

// coldStartFigure describes the cold starts cold (process start to first
// response, the emulator's Init Duration + Duration) of one function, the
// same from starting the emulator whole, the first invokes' latencies
// first (the bootstrap starts on the first invoke), the emulator's own
// start ready and the warm invokes' latencies warm; first − warm is a
// guide to what being cold adds to the function's work (see coldStart).
func coldStartFigure(cold, whole, first, ready, warm []time.Duration) string {
	extra := ms(median(first)) - ms(median(warm))
	all := make([]string, len(cold))
	for i, d := range cold {
		all[i] = fmt.Sprintf("%.0f", ms(d))
	}
	return fmt.Sprintf("%.0f ms cold, median of %d (process start to first response: Init Duration + Duration; runs %s ms); medians: emulator listening after %.0f ms, emulator start to first response %.0f ms, first invoke %.0f ms, warm invoke %.0f ms, cold extra (first − warm) %.0f ms",
		ms(median(cold)), len(cold), strings.Join(all, " "), ms(median(ready)), ms(median(whole)), ms(median(first)), ms(median(warm)), extra)
}

// median returns the median of d (the mean of the middle two for an even
// count); 0 for none.
func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
