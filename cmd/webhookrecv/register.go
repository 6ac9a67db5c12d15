package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// demoCustomer is the customer of the token `make run` prints
// (cmd/outdial-local) and of cmd/dialsim's minted tokens, so the demo
// campaign's events reach the webhook registered for it.
const demoCustomer = "7c4d2f3a-1b8e-4f5c-9a6d-3e2f1a0b4c5d"

// api is a client of the service's webhook routes.
type api struct {
	base   string // e.g. http://127.0.0.1:3000
	token  string
	client *http.Client
}

// webhookAnswer is what PUT /v1.0/webhook and POST /v1.0/webhook/rotate
// answer (the secret only from them).
type webhookAnswer struct {
	URI        string   `json:"uri"`
	EventTypes []string `json:"event_types"`
	Secret     string   `json:"secret"`
}

// call sends method path with body (JSON, or none) and decodes a 2xx
// answer into out (if not nil). Any other answer is an error quoting the
// service's error message.
func (a *api) call(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(a.base, "/")+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	res, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
			Msg   string                         `json:"message"` // API Gateway's own errors
		}
		_ = json.Unmarshal(b, &e)
		switch {
		case e.Error.Code != "":
			return fmt.Errorf("%s %s: %d %s: %s", method, path, res.StatusCode, e.Error.Code, e.Error.Message)
		case e.Msg != "":
			return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, e.Msg)
		}
		return fmt.Errorf("%s %s: %d", method, path, res.StatusCode)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode %s: %w", method, path, b, err)
		}
	}
	return nil
}

// register sets the customer's webhook to uri (every event type when
// types is empty) and returns the answer, with the secret.
func (a *api) register(ctx context.Context, uri string, types []string) (*webhookAnswer, error) {
	body := map[string]any{"uri": uri}
	if len(types) > 0 {
		body["event_types"] = types
	}
	var w webhookAnswer
	if err := a.call(ctx, http.MethodPut, "/v1.0/webhook", body, &w); err != nil {
		return nil, err
	}
	if w.Secret == "" {
		return nil, errors.New("PUT /v1.0/webhook answered no secret")
	}
	return &w, nil
}

// ping asks the service to send a ping event and returns its id.
func (a *api) ping(ctx context.Context) (string, error) {
	var out struct {
		Queued  bool   `json:"queued"`
		EventID string `json:"event_id"`
	}
	if err := a.call(ctx, http.MethodPost, "/v1.0/webhook/test", struct{}{}, &out); err != nil {
		return "", err
	}
	return out.EventID, nil
}

// unregister removes the customer's webhook.
func (a *api) unregister(ctx context.Context) error {
	return a.call(ctx, http.MethodDelete, "/v1.0/webhook", nil, nil)
}

// splitTypes reads -event-types: comma-separated, blanks ignored.
func splitTypes(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}
