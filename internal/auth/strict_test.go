package auth_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
)

// handmade returns header.payload.signature with the JSON texts exactly as
// given and a correct HS256 signature under key: only what the test writes
// into the JSON can be wrong with it.
func handmade(header, payload string, key []byte) string {
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(mac.Sum(nil))
}

// defaultMaxLifetime is the default of the authorizer's maximum token
// lifetime (the template's MaxTokenLifetimeSeconds).
const defaultMaxLifetime = 30 * 24 * time.Hour

// TestVerifyIsStrictAboutTheJSON checks tokens that are correctly signed
// but whose header or claims are ambiguous or not understood: a string
// where a date must be a number, a crit header (no extension is
// understood), and a key given twice (encoding/json would keep the last).
func TestVerifyIsStrictAboutTheJSON(t *testing.T) {
	const (
		header = `{"alg":"HS256","typ":"JWT"}`
		other  = "11111111-2222-4333-8444-555555555555"
	)
	now := time.Now()
	exp := now.Add(time.Hour).Unix()
	iat := now.Unix()
	payload := func(extra string) string {
		return fmt.Sprintf(`{"customer_id":%q,"exp":%d%s}`, customer, exp, extra)
	}
	tests := []struct {
		name            string
		header, payload string
		wantErr         bool
	}{
		// The controls: the crafting itself makes valid tokens.
		{"valid", header, payload(""), false},
		{"valid with iat and nbf", header, payload(fmt.Sprintf(`,"iat":%d,"nbf":%d`, iat, iat)), false},
		{"valid with claims we do not read", header, payload(`,"scope":["a","b"],"x":{"a":1,"b":2}`), false},
		{"valid, header without typ", `{"alg":"HS256"}`, payload(""), false},

		{"exp a string", header, fmt.Sprintf(`{"customer_id":%q,"exp":"%d"}`, customer, exp), true},
		{"iat a string", header, payload(fmt.Sprintf(`,"iat":"%d"`, iat)), true},
		{"nbf a string", header, payload(fmt.Sprintf(`,"nbf":"%d"`, iat)), true},
		{"exp true", header, fmt.Sprintf(`{"customer_id":%q,"exp":true}`, customer), true},
		{"exp only under another case, as a string", header, fmt.Sprintf(`{"customer_id":%q,"EXP":"%d"}`, customer, exp), true},

		{"crit naming an unknown extension", `{"alg":"HS256","typ":"JWT","crit":["x-outdial"],"x-outdial":1}`, payload(""), true},
		{"crit naming a registered claim", `{"alg":"HS256","crit":["exp"]}`, payload(""), true},
		{"crit empty", `{"alg":"HS256","crit":[]}`, payload(""), true},

		{"customer_id twice", header, fmt.Sprintf(`{"customer_id":%q,"customer_id":%q,"exp":%d}`, other, customer, exp), true},
		{"customer_id twice, the same value", header, fmt.Sprintf(`{"customer_id":%q,"customer_id":%q,"exp":%d}`, customer, customer, exp), true},
		{"customer_id twice, once escaped", header, fmt.Sprintf(`{"customer_id":%q,"customer\u005fid":%q,"exp":%d}`, other, customer, exp), true},
		{"exp twice", header, fmt.Sprintf(`{"customer_id":%q,"exp":1,"exp":%d}`, customer, exp), true},
		{"duplicate key in a nested claim", header, payload(`,"x":{"a":1,"a":2}`), true},
		{"alg twice in the header", `{"alg":"none","alg":"HS256"}`, payload(""), true},
		{"typ twice in the header", `{"alg":"HS256","typ":"JWT","typ":"JWT"}`, payload(""), true},

		{"claims not an object", header, `["customer_id"]`, true},
		{"trailing data after the claims", header, payload("") + `{}`, true},
	}
	v := verifier(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := handmade(tt.header, tt.payload, []byte(secret))
			got, err := v.Verify(tok)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Verify(%s . %s) = %q, nil; want an error", tt.header, tt.payload, got)
				}
				if got != "" {
					t.Errorf("Verify returned customer %q together with error %v", got, err)
				}
				for _, part := range strings.Split(tok, ".") {
					if len(part) >= 8 && strings.Contains(err.Error(), part) {
						t.Errorf("error %q contains part of the token", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify(%s . %s): %v", tt.header, tt.payload, err)
			}
			if got != customer {
				t.Errorf("Verify = %q, want %q", got, customer)
			}
		})
	}
}

// TestVerifyReadsTheExactClaimName checks that customer_id is read under
// its exact name: a CUSTOMER_ID beside it (encoding/json matches struct
// fields case-insensitively) does not override it.
func TestVerifyReadsTheExactClaimName(t *testing.T) {
	const other = "11111111-2222-4333-8444-555555555555"
	tok := handmade(`{"alg":"HS256"}`,
		fmt.Sprintf(`{"customer_id":%q,"CUSTOMER_ID":%q,"exp":%d}`, customer, other, time.Now().Add(time.Hour).Unix()), []byte(secret))
	got, err := verifier(t).Verify(tok)
	if err != nil || got != customer {
		t.Errorf("Verify = %q, %v; want %q, nil", got, err, customer)
	}
}

// TestVerifyMaxLifetime checks the default maximum lifetime (30 days):
// exp − iat when the token has iat, else exp − now.
func TestVerifyMaxLifetime(t *testing.T) {
	now := time.Now()
	day := 24 * time.Hour
	claims := func(exp time.Time, iat *time.Time) string {
		if iat == nil {
			return fmt.Sprintf(`{"customer_id":%q,"exp":%d}`, customer, exp.Unix())
		}
		return fmt.Sprintf(`{"customer_id":%q,"exp":%d,"iat":%d}`, customer, exp.Unix(), iat.Unix())
	}
	at := func(t time.Time) *time.Time { return &t }
	tests := []struct {
		name    string
		token   string
		wantErr bool
	}{
		{"minted for 7 days (make run's token)", mint(t, secret, customer, 7*day, now), false},
		{"minted for exactly the maximum", mint(t, secret, customer, defaultMaxLifetime, now), false},
		{"minted for the maximum and a second", mint(t, secret, customer, defaultMaxLifetime+time.Second, now), true},
		{"minted for 100 years", mint(t, secret, customer, 100*365*day, now), true},
		{"minted 20 days ago for 40 days", mint(t, secret, customer, 40*day, now.Add(-20*day)), true},
		{"iat: exactly the maximum", handmade(`{"alg":"HS256"}`, claims(now.Add(defaultMaxLifetime), at(now)), []byte(secret)), false},
		{"iat: over the maximum", handmade(`{"alg":"HS256"}`, claims(now.Add(defaultMaxLifetime+time.Minute), at(now)), []byte(secret)), true},
		{"no iat: exactly the maximum from now", handmade(`{"alg":"HS256"}`, claims(now.Add(defaultMaxLifetime), nil), []byte(secret)), false},
		{"no iat: over the maximum from now", handmade(`{"alg":"HS256"}`, claims(now.Add(defaultMaxLifetime+time.Minute), nil), []byte(secret)), true},
		{"no iat: 100 years", handmade(`{"alg":"HS256"}`, claims(now.AddDate(100, 0, 0), nil), []byte(secret)), true},
		// An iat set in the future does not make a long token short.
		{"iat an hour before a far exp", handmade(`{"alg":"HS256"}`, claims(now.AddDate(100, 0, 0), at(now.AddDate(100, 0, 0).Add(-time.Hour))), []byte(secret)), true},
	}
	v := verifier(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(tt.token)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Verify = %q, nil; want an error", got)
				}
				return
			}
			if err != nil || got != customer {
				t.Fatalf("Verify = %q, %v; want %q, nil", got, err, customer)
			}
		})
	}
}

// TestVerifierWithMaxLifetime checks a deployment's own maximum, and that
// setting it leaves the verifier it was derived from as it was.
func TestVerifierWithMaxLifetime(t *testing.T) {
	now := time.Now()
	base := verifier(t)
	short := base.WithMaxLifetime(time.Hour)
	hour := mint(t, secret, customer, time.Hour, now)
	twoHours := mint(t, secret, customer, 2*time.Hour, now)
	if got, err := short.Verify(hour); err != nil || got != customer {
		t.Errorf("max 1h: Verify(1h token) = %q, %v; want %q, nil", got, err, customer)
	}
	got, err := short.Verify(twoHours)
	if err == nil {
		t.Fatalf("max 1h: Verify(2h token) = %q, nil; want an error", got)
	}
	if !strings.Contains(err.Error(), "maximum lifetime") {
		t.Errorf("error %q does not say what is wrong", err)
	}
	for _, part := range strings.Split(twoHours, ".") {
		if strings.Contains(err.Error(), part) {
			t.Errorf("error %q contains part of the token", err)
		}
	}
	if got, err := base.Verify(twoHours); err != nil || got != customer {
		t.Errorf("default max: Verify(2h token) = %q, %v; want %q, nil (WithMaxLifetime changed the original)", got, err, customer)
	}
}
