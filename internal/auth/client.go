package auth

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"time"
)

// ClientToken is the token a command-line client of the API uses: flagToken,
// else $TOKEN, else (only for an API on this machine) one minted for
// customer with $OUTDIAL_TOKEN_SECRET or DevSecret, as `make run`
// verifies them. cmd/dialsim and cmd/webhookrecv use it.
func ClientToken(flagToken, apiURL, customer string, getenv func(string) string) (string, error) {
	if flagToken != "" {
		return flagToken, nil
	}
	if t := getenv("TOKEN"); t != "" {
		return t, nil
	}
	if !IsLocalURL(apiURL) {
		return "", errors.New("no token: pass -token or set $TOKEN (one is minted only for an API on this machine)")
	}
	secret := getenv("OUTDIAL_TOKEN_SECRET")
	if secret == "" {
		secret = DevSecret
	}
	return Mint(secret, customer, 24*time.Hour, time.Now())
}

// IsLocalURL reports whether the host of rawURL is a loopback address.
func IsLocalURL(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
