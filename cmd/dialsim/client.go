package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/outdial/outdial/internal/outdial"
)

// apiClient talks to the service's public HTTP API with a bearer token,
// exactly as any other client would.
type apiClient struct {
	base  string // e.g. http://127.0.0.1:3000 (no trailing slash)
	token string
	http  *http.Client
}

// apiError is an answer of the API that is not 2xx: the error envelope's
// fields, or the raw body when it is not an envelope.
type apiError struct {
	Method, Path string
	Status       int
	Code         string
	Message      string
}

func (e *apiError) Error() string {
	msg := e.Message
	if e.Code != "" {
		msg = e.Code + ": " + msg
	}
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, msg)
}

// retryable reports whether the request may succeed when sent again:
// throttling, server-side failures and network errors.
func retryable(err error) bool {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Status == http.StatusTooManyRequests || ae.Status >= 500
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// do sends one request and decodes a 2xx JSON answer into out (if not nil).
func (c *apiClient) do(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		ae := &apiError{Method: method, Path: path, Status: res.StatusCode}
		var env struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(b, &env) == nil && env.Error.Code != "" {
			ae.Code, ae.Message = env.Error.Code, env.Error.Message
		} else {
			ae.Message = strings.TrimSpace(string(b))
			if len(ae.Message) > 200 {
				ae.Message = ae.Message[:200] + "..."
			}
		}
		return ae
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// retry runs fn until it succeeds, fails with an error that is not
// retryable, or tries run out; waits grow from 100 ms to 2 s.
func retry(ctx context.Context, tries int, fn func() error) error {
	wait := 100 * time.Millisecond
	for i := 1; ; i++ {
		err := fn()
		if err == nil || !retryable(err) || i >= tries || ctx.Err() != nil {
			return err
		}
		if sleepCtx(ctx, wait) != nil {
			return err
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func (c *apiClient) jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs are marshalled
	}
	return b
}

// createOutdial: POST /v1.0/outdials, with a calling window if w is not
// nil.
func (c *apiClient) createOutdial(ctx context.Context, name, detail string, w *outdial.CallingWindow) (*outdial.Outdial, error) {
	var o outdial.Outdial
	req := map[string]any{"name": name, "detail": detail}
	if w != nil {
		req["calling_window"] = w
	}
	body := c.jsonBody(req)
	err := c.do(ctx, http.MethodPost, "/v1.0/outdials", "application/json", body, &o)
	return &o, err
}

// setRetryPolicy: PUT /v1.0/outdials/{id} with every delay set to seconds.
func (c *apiClient) setRetryPolicy(ctx context.Context, id string, seconds int) (*outdial.Outdial, error) {
	var o outdial.Outdial
	body := c.jsonBody(map[string]any{"retry_policy": outdial.RetryPolicy{
		BusySeconds: seconds, NoAnswerSeconds: seconds, FailedSeconds: seconds, ExpiredSeconds: seconds,
	}})
	err := c.do(ctx, http.MethodPut, "/v1.0/outdials/"+url.PathEscape(id), "application/json", body, &o)
	return &o, err
}

// importResult is the part of the import answer the simulator reads.
type importResult struct {
	Created         int `json:"created"`
	Duplicates      int `json:"duplicates"`
	Rejected        int `json:"rejected"`
	RejectedTargets []struct {
		Index   int    `json:"index"`
		Line    int    `json:"line"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"rejected_targets"`
}

// importCSV: POST /v1.0/outdials/{id}/targets with a text/csv body.
func (c *apiClient) importCSV(ctx context.Context, id string, csv []byte) (*importResult, error) {
	var r importResult
	err := c.do(ctx, http.MethodPost, "/v1.0/outdials/"+url.PathEscape(id)+"/targets", "text/csv", csv, &r)
	return &r, err
}

// getOutdial: GET /v1.0/outdials/{id} (its counts included).
func (c *apiClient) getOutdial(ctx context.Context, id string) (*outdial.Outdial, error) {
	var o outdial.Outdial
	err := c.do(ctx, http.MethodGet, "/v1.0/outdials/"+url.PathEscape(id), "", nil, &o)
	return &o, err
}

// claim: POST /v1.0/outdials/{id}/targets/claim.
func (c *apiClient) claim(ctx context.Context, id string, limit int, lease time.Duration) ([]*outdial.Claim, error) {
	var r struct {
		Result []*outdial.Claim `json:"result"`
	}
	body := c.jsonBody(map[string]int{"limit": limit, "lease_seconds": int(lease / time.Second)})
	err := c.do(ctx, http.MethodPost, "/v1.0/outdials/"+url.PathEscape(id)+"/targets/claim", "application/json", body, &r)
	return r.Result, err
}

// listTargets: every target of the outdial, following next_page_token.
func (c *apiClient) listTargets(ctx context.Context, id string) ([]*outdial.Target, error) {
	return c.listTargetsBy(ctx, id, "")
}

// listTargetsBy: the targets of the outdial with reason r (every target
// when r is ""), following next_page_token until it is empty (with a
// reason, pages may come back short or even empty before the end).
func (c *apiClient) listTargetsBy(ctx context.Context, id string, r outdial.Reason) ([]*outdial.Target, error) {
	var all []*outdial.Target
	token := ""
	for {
		q := url.Values{"page_size": {"100"}}
		if r != "" {
			q.Set("reason", string(r))
		}
		if token != "" {
			q.Set("page_token", token)
		}
		var page struct {
			Result        []*outdial.Target `json:"result"`
			NextPageToken string            `json:"next_page_token"`
		}
		err := retry(ctx, 5, func() error {
			return c.do(ctx, http.MethodGet, "/v1.0/outdials/"+url.PathEscape(id)+"/targets?"+q.Encode(), "", nil, &page)
		})
		if err != nil {
			return all, err
		}
		all = append(all, page.Result...)
		if page.NextPageToken == "" {
			return all, nil
		}
		token = page.NextPageToken
	}
}

// suppressionAnswer is the answer of POST /v1.0/suppressions.
type suppressionAnswer struct {
	Added    int `json:"added"`
	Existing int `json:"existing"`
	Rejected []struct {
		Index   int    `json:"index"`
		Address string `json:"address"`
		Error   struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	} `json:"rejected"`
}

// addSuppressions: POST /v1.0/suppressions with {"addresses": [...]}
// (written addresses such as tel:+15551234567, at most
// outdial.MaxSuppressionsPerRequest).
func (c *apiClient) addSuppressions(ctx context.Context, addresses []string) (*suppressionAnswer, error) {
	var r suppressionAnswer
	body := c.jsonBody(map[string][]string{"addresses": addresses})
	err := c.do(ctx, http.MethodPost, "/v1.0/suppressions", "application/json", body, &r)
	return &r, err
}

// checkSuppressions: POST /v1.0/suppressions/check, the addresses of
// addresses on the customer's suppression list.
func (c *apiClient) checkSuppressions(ctx context.Context, addresses []string) ([]string, error) {
	var r struct {
		Suppressed []string `json:"suppressed"`
	}
	body := c.jsonBody(map[string][]string{"addresses": addresses})
	err := c.do(ctx, http.MethodPost, "/v1.0/suppressions/check", "application/json", body, &r)
	return r.Suppressed, err
}

// deleteSuppressions: POST /v1.0/suppressions/delete, how many were listed.
func (c *apiClient) deleteSuppressions(ctx context.Context, addresses []string) (int, error) {
	var r struct {
		Deleted int `json:"deleted"`
	}
	body := c.jsonBody(map[string][]string{"addresses": addresses})
	err := c.do(ctx, http.MethodPost, "/v1.0/suppressions/delete", "application/json", body, &r)
	return r.Deleted, err
}

// sleepCtx waits d or until ctx is done (then it returns ctx's error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
