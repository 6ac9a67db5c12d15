package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/outdial/outdial/internal/auth"
)

const customer = "7c4d2f3a-1b8e-4f5c-9a6d-3e2f1a0b4c5d"

// env is a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestRun checks what the command refuses, what it warns about, and that
// what it prints is a token the authorizer accepts.
func TestRun(t *testing.T) {
	const longSecret = "a-deployment-secret-0123456789abcdef-0123"
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantErr  string // in stderr
		noErr    string // never in stderr
		secret   string // the printed token verifies with it (exit 0 only)
	}{
		{"defaults", []string{"-customer", customer}, nil, 0, "development secret", "warning", auth.DevSecret},
		{"deployed secret", []string{"-customer", customer, "-ttl", "1h"}, map[string]string{"OUTDIAL_TOKEN_SECRET": longSecret}, 0, "", "warning", longSecret},
		{"exactly the maximum", []string{"-customer", customer, "-ttl", "720h"}, nil, 0, "", "warning", auth.DevSecret},
		{"ttl zero", []string{"-customer", customer, "-ttl", "0s"}, nil, 2, "-ttl must be positive", "", ""},
		{"ttl negative", []string{"-customer", customer, "-ttl", "-1h"}, nil, 2, "-ttl must be positive", "", ""},
		{"secret of 3 bytes", []string{"-customer", customer}, map[string]string{"OUTDIAL_TOKEN_SECRET": "abc"}, 2, "at least 32", "abc", ""},
		{"secret one byte short", nil, map[string]string{"OUTDIAL_TOKEN_SECRET": strings.Repeat("s", auth.MinSecretLen-1)}, 2, "OUTDIAL_TOKEN_SECRET is 31 bytes", "sssss", ""},
		{"over the default maximum", []string{"-customer", customer, "-ttl", "721h"}, nil, 0, "warning: -ttl 721h0m0s exceeds the maximum token lifetime 720h0m0s", "", ""},
		{"a century", []string{"-customer", customer, "-ttl", "876000h"}, nil, 0, "the authorizer denies this token", "", ""},
		{"within a larger maximum", []string{"-customer", customer, "-ttl", "1440h", "-max-lifetime", "2160h"}, nil, 0, "", "warning", ""},
		{"over a smaller maximum", []string{"-customer", customer, "-ttl", "2h", "-max-lifetime", "1h"}, nil, 0, "exceeds the maximum token lifetime 1h0m0s", "", ""},
		{"not a UUID", []string{"-customer", "customer-1"}, nil, 2, "not a UUID", "", ""},
		{"unknown flag", []string{"-ttl-days", "3"}, nil, 2, "flag provided but not defined", "", ""},
		{"stray argument", []string{"-customer", customer, "extra"}, nil, 2, "unexpected arguments", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, env(tt.env), time.Now(), &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d (stderr: %s)", code, tt.wantCode, stderr.String())
			}
			if tt.wantErr != "" && !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tt.wantErr)
			}
			if tt.noErr != "" && strings.Contains(stderr.String(), tt.noErr) {
				t.Errorf("stderr %q contains %q", stderr.String(), tt.noErr)
			}
			if code != 0 {
				if stdout.Len() != 0 {
					t.Errorf("refused, yet printed %q", stdout.String())
				}
				return
			}
			tok := strings.TrimSpace(stdout.String())
			if tok == "" || strings.Count(tok, ".") != 2 {
				t.Fatalf("stdout %q, want one token", stdout.String())
			}
			if tt.secret == "" {
				return
			}
			v, err := auth.NewVerifier(tt.secret)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := v.Verify(tok); err != nil || got != customer {
				t.Errorf("Verify(printed token) = %q, %v; want %q, nil", got, err, customer)
			}
		})
	}
}
