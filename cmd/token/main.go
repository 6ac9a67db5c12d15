// Command token mints a bearer token for the Outdial API: an HS256 JWT with
// customer_id and exp, signed with OUTDIAL_TOKEN_SECRET (the local
// development secret when unset). Use it against `make run` or, with the
// deployed secret in the environment, against a deployed stack.
//
//	go run ./cmd/token -customer 7c4d2f3a-1b8e-4f5c-9a6d-3e2f1a0b4c5d -ttl 24h
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/auth"
)

func main() {
	customer := flag.String("customer", "", "customer id (UUID); a new random one when empty")
	ttl := flag.Duration("ttl", 24*time.Hour, "how long the token is valid")
	flag.Parse()

	secret := os.Getenv("OUTDIAL_TOKEN_SECRET")
	if secret == "" {
		secret = auth.DevSecret
		fmt.Fprintln(os.Stderr, "token: OUTDIAL_TOKEN_SECRET unset; signing with the local development secret")
	}
	if *customer == "" {
		*customer = uuid.NewString()
	}
	tok, err := auth.Mint(secret, *customer, *ttl, time.Now())
	if err != nil {
		fmt.Fprintln(os.Stderr, "token:", err)
		os.Exit(2)
	}
	fmt.Println(tok)
}
