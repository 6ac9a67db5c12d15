// Command token mints a bearer token for the Outdial API: an HS256 JWT with
// customer_id, iat and exp, signed with OUTDIAL_TOKEN_SECRET (the local
// development secret when unset). Use it against `make run` or, with the
// deployed secret in the environment, against a deployed stack.
//
//	go run ./cmd/token -customer 7c4d2f3a-1b8e-4f5c-9a6d-3e2f1a0b4c5d -ttl 24h
//
// It refuses a -ttl that is not positive and a secret shorter than
// auth.MinSecretLen, and warns when -ttl exceeds -max-lifetime (the
// authorizer's MaxTokenLifetimeSeconds, default 30 days), since the
// authorizer denies such a token.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/auth"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, time.Now(), os.Stdout, os.Stderr))
}

// run is the whole command: it prints the token on stdout and answers the
// exit code (2 for a refusal).
func run(args []string, getenv func(string) string, now time.Time, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	customer := fs.String("customer", "", "customer id (UUID); a new random one when empty")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid (positive)")
	maxLifetime := fs.Duration("max-lifetime", auth.DefaultMaxLifetime,
		"the deployment's maximum token lifetime (template parameter MaxTokenLifetimeSeconds); a longer -ttl is warned about")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "token: unexpected arguments %q\n", fs.Args())
		return 2
	}

	// Check the ttl and the secret.
	if *ttl <= 0 {
		fmt.Fprintf(stderr, "token: -ttl must be positive, not %s\n", *ttl)
		return 2
	}
	if *ttl > *maxLifetime {
		fmt.Fprintf(stderr, "token: warning: -ttl %s exceeds the maximum token lifetime %s: the authorizer denies this token "+
			"(unless the deployment's MaxTokenLifetimeSeconds is larger; then pass it as -max-lifetime)\n", *ttl, *maxLifetime)
	}
	secret, err := signingSecret(getenv, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "token:", err)
		return 2
	}

	// Mint.
	if *customer == "" {
		*customer = uuid.NewString()
	}
	tok, err := auth.Mint(secret, *customer, *ttl, now)
	if err != nil {
		fmt.Fprintln(stderr, "token:", err)
		return 2
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

// signingSecret returns OUTDIAL_TOKEN_SECRET, or the development secret
// when it is unset; a secret shorter than auth.MinSecretLen is an error
// (which never quotes it).
func signingSecret(getenv func(string) string, stderr io.Writer) (string, error) {
	secret := getenv("OUTDIAL_TOKEN_SECRET")
	if secret == "" {
		fmt.Fprintln(stderr, "token: OUTDIAL_TOKEN_SECRET unset; signing with the local development secret")
		return auth.DevSecret, nil
	}
	if len(secret) < auth.MinSecretLen {
		return "", fmt.Errorf("OUTDIAL_TOKEN_SECRET is %d bytes; it must be at least %d (the authorizer refuses shorter secrets)",
			len(secret), auth.MinSecretLen)
	}
	return secret, nil
}
