package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Timeout bounds one delivery: connecting, TLS, sending the body and
// reading the answer's headers and body.
const Timeout = 10 * time.Second

// ErrAddressRefused is returned (wrapped) when a delivery would connect to
// an address IPAllowed refuses.
var ErrAddressRefused = errors.New("webhook: address refused")

// NewClient returns the HTTP client of deliveries: Timeout overall, no
// redirects followed (the 3xx answer is returned, and Deliver counts it a
// failure), no proxy (HTTP_PROXY and the like are ignored), and a dialer
// that refuses, at connect time, any address IPAllowed(ip, allowLocal)
// refuses. The check runs on the address actually connected to, after
// name resolution, so a host name that resolves (or is rebound) to a
// private address fails. Build it once and share it: it keeps
// connections alive between deliveries.
func NewClient(allowLocal bool) *http.Client {
	return newClient(&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}, allowLocal)
}

// newClient is NewClient with the dialer given (tests set its Resolver);
// it sets the dialer's Control.
func newClient(d *net.Dialer, allowLocal bool) *http.Client {
	d.Control = dialControl(allowLocal)
	t := &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    5 * time.Second,
		ResponseHeaderTimeout:  Timeout,
		ExpectContinueTimeout:  time.Second,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    10,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: t,
		Timeout:   Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// dialControl returns a net.Dialer Control function that refuses to
// connect to addresses IPAllowed refuses. address is the resolved
// "ip:port" the socket is about to connect to.
func dialControl(allowLocal bool) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		switch network {
		case "tcp", "tcp4", "tcp6":
		default:
			return fmt.Errorf("%w: network %s", ErrAddressRefused, network)
		}
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrAddressRefused, err)
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("%w: %s is not an IP address", ErrAddressRefused, host)
		}
		if !addrAllowed(a, allowLocal) {
			return fmt.Errorf("%w: %s is private, loopback, link-local or otherwise not public", ErrAddressRefused, a.WithZone(""))
		}
		return nil
	}
}
