package auth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"

	"github.com/outdial/outdial/internal/auth"
)

const (
	secret     = "test-secret-0123456789abcdef-0123456789"
	prevSecret = "previous-secret-0123456789abcdef-012345"
	customer   = "7c4d2f3a-1b8e-4f5c-9a6d-3e2f1a0b4c5d"
)

func verifier(t *testing.T, previous ...string) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(secret, previous...)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// sign signs claims with method and key, for tokens Mint cannot make.
func sign(t *testing.T, method jwt.SigningMethod, claims jwt.Claims, key any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

func mint(t *testing.T, secret, customerID string, ttl time.Duration, now time.Time) string {
	t.Helper()
	tok, err := auth.Mint(secret, customerID, ttl, now)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

func TestMintVerifyRoundTrip(t *testing.T) {
	v := verifier(t)
	for _, id := range []string{customer, strings.ToUpper(customer)} {
		tok := mint(t, secret, id, time.Hour, time.Now())
		got, err := v.Verify(tok)
		if err != nil {
			t.Fatalf("Verify(Mint(%s)): %v", id, err)
		}
		// The verifier answers the canonical (lower-case) form.
		if want := customer; got != want {
			t.Errorf("Verify(Mint(%s)) = %q, want %q", id, got, want)
		}
	}
}

func TestMintRejectsNonUUIDCustomer(t *testing.T) {
	for _, id := range []string{"", "customer-1", "7c4d2f3a1b8e4f5c9a6d3e2f1a0b4c5"} {
		if tok, err := auth.Mint(secret, id, time.Hour, time.Now()); err == nil {
			t.Errorf("Mint(customer %q) = %q, nil; want an error", id, tok)
		}
	}
}

func TestMintRejectsShortSecret(t *testing.T) {
	for _, s := range []string{"", "abc", strings.Repeat("x", auth.MinSecretLen-1)} {
		if tok, err := auth.Mint(s, customer, time.Hour, time.Now()); err == nil {
			t.Errorf("Mint(%d-byte secret) = %q, nil; want an error", len(s), tok)
		}
	}
	if _, err := auth.Mint(strings.Repeat("x", auth.MinSecretLen), customer, time.Hour, time.Now()); err != nil {
		t.Errorf("Mint(%d-byte secret): %v", auth.MinSecretLen, err)
	}
}

func TestVerify(t *testing.T) {
	now := time.Now()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	valid := func(c auth.Claims) auth.Claims {
		if c.ExpiresAt == nil {
			c.ExpiresAt = jwt.NewNumericDate(now.Add(time.Hour))
		}
		return c
	}
	noneToken := sign(t, jwt.SigningMethodNone, valid(auth.Claims{CustomerID: customer}), jwt.UnsafeAllowNoneSignatureType)
	hs256 := mint(t, secret, customer, time.Hour, now)
	parts := strings.Split(hs256, ".")

	tests := []struct {
		name    string
		token   string
		wantErr bool
	}{
		{"valid", hs256, false},
		{"issued in the future is fine", mint(t, secret, customer, time.Hour, now.Add(10*time.Minute)), false},
		{"expired within leeway is fine", mint(t, secret, customer, -10*time.Second, now), false},
		{"expired", mint(t, secret, customer, -5*time.Minute, now), true},
		{"expired long ago", mint(t, secret, customer, time.Hour, now.Add(-48*time.Hour)), true},
		{"not valid yet (nbf)", sign(t, jwt.SigningMethodHS256, valid(auth.Claims{CustomerID: customer,
			RegisteredClaims: jwt.RegisteredClaims{NotBefore: jwt.NewNumericDate(now.Add(10 * time.Minute))}}), []byte(secret)), true},
		{"no exp", sign(t, jwt.SigningMethodHS256, auth.Claims{CustomerID: customer}, []byte(secret)), true},
		{"alg none", noneToken, true},
		{"alg none, signature of HS256 kept", strings.Join(append([]string{strings.Split(noneToken, ".")[0]}, parts[1:]...), "."), true},
		{"RS256", sign(t, jwt.SigningMethodRS256, valid(auth.Claims{CustomerID: customer}), rsaKey), true},
		{"HS512 with the right secret", sign(t, jwt.SigningMethodHS512, valid(auth.Claims{CustomerID: customer}), []byte(secret)), true},
		{"HS384 with the right secret", sign(t, jwt.SigningMethodHS384, valid(auth.Claims{CustomerID: customer}), []byte(secret)), true},
		{"forged: other secret", mint(t, "another-secret-0123456789abcdef-0123456", customer, time.Hour, now), true},
		{"forged: payload swapped", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"customer_id":"11111111-2222-4333-8444-555555555555","exp":4102444800}`)) + "." + parts[2], true},
		{"forged: signature removed", parts[0] + "." + parts[1] + ".", true},
		{"customer_id missing", sign(t, jwt.SigningMethodHS256, valid(auth.Claims{}), []byte(secret)), true},
		{"customer_id not a UUID", sign(t, jwt.SigningMethodHS256, valid(auth.Claims{CustomerID: "customer-1"}), []byte(secret)), true},
		{"customer_id braced UUID", sign(t, jwt.SigningMethodHS256, valid(auth.Claims{CustomerID: "{" + customer + "}"}), []byte(secret)), true},
		{"customer_id URN", sign(t, jwt.SigningMethodHS256, valid(auth.Claims{CustomerID: "urn:uuid:" + customer}), []byte(secret)), true},
		{"customer_id a number", sign(t, jwt.SigningMethodHS256, jwt.MapClaims{"customer_id": 42, "exp": now.Add(time.Hour).Unix()}, []byte(secret)), true},
		{"empty", "", true},
		{"garbage", "not a token", true},
		{"two parts", parts[0] + "." + parts[1], true},
		{"four parts", hs256 + ".x", true},
	}
	v := verifier(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(tt.token)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Verify = %q, nil; want an error", got)
				}
				if got != "" {
					t.Errorf("Verify returned customer %q together with error %v", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != customer {
				t.Errorf("Verify = %q, want %q", got, customer)
			}
		})
	}
}

func TestVerifierRotation(t *testing.T) {
	now := time.Now()
	oldTok := mint(t, prevSecret, customer, time.Hour, now)
	newTok := mint(t, secret, customer, time.Hour, now)
	otherTok := mint(t, "unrelated-secret-0123456789abcdef-01234", customer, time.Hour, now)

	during := verifier(t, prevSecret)
	for name, tok := range map[string]string{"current": newTok, "previous": oldTok} {
		if got, err := during.Verify(tok); err != nil || got != customer {
			t.Errorf("during rotation, Verify(%s token) = %q, %v; want %q, nil", name, got, err, customer)
		}
	}
	if got, err := during.Verify(otherTok); err == nil {
		t.Errorf("during rotation, Verify(token of an unrelated secret) = %q, nil; want an error", got)
	}
	// An expired token signed with the previous secret stays expired.
	if got, err := during.Verify(mint(t, prevSecret, customer, -time.Hour, now)); err == nil {
		t.Errorf("during rotation, Verify(expired previous-secret token) = %q, nil; want an error", got)
	}

	after := verifier(t, "") // rotation finished: the previous secret is cleared
	if got, err := after.Verify(oldTok); err == nil {
		t.Errorf("after rotation, Verify(previous-secret token) = %q, nil; want an error", got)
	}
	if got, err := after.Verify(newTok); err != nil || got != customer {
		t.Errorf("after rotation, Verify(current token) = %q, %v; want %q, nil", got, err, customer)
	}
}

func TestNewVerifierSecretLength(t *testing.T) {
	for _, tt := range []struct {
		secret  string
		wantErr bool
	}{
		{"", true},
		{"short", true},
		{strings.Repeat("x", auth.MinSecretLen-1), true},
		{strings.Repeat("x", auth.MinSecretLen), false},
		{auth.DevSecret, false},
	} {
		_, err := auth.NewVerifier(tt.secret)
		if gotErr := err != nil; gotErr != tt.wantErr {
			t.Errorf("NewVerifier(%d-byte secret) error = %v, want error %v", len(tt.secret), err, tt.wantErr)
		}
	}
}

func TestTokenFrom(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		query   map[string]string
		want    string
	}{
		{"header", map[string]string{"authorization": "Bearer h"}, nil, "h"},
		{"header name in any case", map[string]string{"AUTHORIZATION": "Bearer h"}, nil, "h"},
		{"scheme in any case", map[string]string{"authorization": "bEaReR h"}, nil, "h"},
		{"surrounding spaces", map[string]string{"authorization": "  Bearer   h  "}, nil, "h"},
		{"query", nil, map[string]string{"token": "q"}, "q"},
		{"header wins over query", map[string]string{"authorization": "Bearer h"}, map[string]string{"token": "q"}, "h"},
		{"non-bearer header falls back to query", map[string]string{"authorization": "Basic dXNlcjpwYXNz"}, map[string]string{"token": "q"}, "q"},
		{"bare token in header is not a bearer token", map[string]string{"authorization": "h"}, nil, ""},
		{"query name is case-sensitive", nil, map[string]string{"TOKEN": "q"}, ""},
		{"VoIPBIN's accesskey", nil, map[string]string{"accesskey": "k"}, "k"},
		{"header wins over accesskey", map[string]string{"authorization": "Bearer h"}, map[string]string{"accesskey": "k"}, "h"},
		{"token wins over accesskey", nil, map[string]string{"token": "q", "accesskey": "k"}, "q"},
		{"empty token falls back to accesskey", nil, map[string]string{"token": "", "accesskey": "k"}, "k"},
		{"nothing", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := auth.TokenFrom(tt.headers, tt.query); got != tt.want {
				t.Errorf("TokenFrom(%v, %v) = %q, want %q", tt.headers, tt.query, got, tt.want)
			}
		})
	}
}

func TestAuthorizerHandle(t *testing.T) {
	now := time.Now()
	valid := mint(t, secret, customer, time.Hour, now)
	tests := []struct {
		name    string
		headers map[string]string
		query   map[string]string
		allow   bool
	}{
		{"header", map[string]string{"authorization": "Bearer " + valid}, nil, true},
		{"query", nil, map[string]string{"token": valid}, true},
		{"none", nil, nil, false},
		{"empty bearer", map[string]string{"authorization": "Bearer "}, nil, false},
		{"expired", map[string]string{"authorization": "Bearer " + mint(t, secret, customer, -time.Hour, now)}, nil, false},
		{"forged", nil, map[string]string{"token": mint(t, "forger-secret-0123456789abcdef-01234567", customer, time.Hour, now)}, false},
		{"garbage", map[string]string{"authorization": "Bearer SECRETGARBAGE.\x00\xff.%%%"}, nil, false},
		{"garbage in query", nil, map[string]string{"token": "eyJTOKENGARBAGE"}, false},
		{"huge", nil, map[string]string{"token": strings.Repeat("A", 1<<20)}, false},
		{"dots", nil, map[string]string{"token": "..."}, false},
		{"JSON header, no signature", nil, map[string]string{"token": "eyJhbGciOiJub25lIn0.eyJjdXN0b21lcl9pZCI6IngifQ."}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			a := &auth.Authorizer{Verifier: verifier(t), Log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			req := events.APIGatewayV2CustomAuthorizerV2Request{
				Version: "2.0", Type: "REQUEST", RouteKey: "GET /v1.0/outdials", Headers: tt.headers, QueryStringParameters: tt.query,
			}
			res, err := a.Handle(context.Background(), req)
			if err != nil {
				t.Fatalf("Handle returned error %v; an authorizer must answer, not fail", err)
			}
			if res.IsAuthorized != tt.allow {
				t.Fatalf("IsAuthorized = %v, want %v", res.IsAuthorized, tt.allow)
			}
			if tt.allow {
				if got := res.Context["customer_id"]; got != customer {
					t.Errorf("context customer_id = %v, want %s", got, customer)
				}
			} else if len(res.Context) != 0 {
				t.Errorf("denied response carries context %v", res.Context)
			}
			// The token, or any recognisable part of it, never reaches the log.
			tok := auth.TokenFrom(tt.headers, tt.query)
			for _, part := range strings.Split(tok, ".") {
				if len(part) >= 8 && strings.Contains(logs.String(), part) {
					t.Errorf("log contains part %q of the token:\n%s", part, logs.String())
				}
			}
		})
	}
}
