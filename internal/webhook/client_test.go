package webhook

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hits is an httptest server on 127.0.0.1 counting its requests.
func hits(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

// TestClientRefusesLoopback: in production the client does not connect
// to 127.0.0.1, whether the URL names it literally or by a host name
// that resolves to it (localhost, or any name a resolver maps there: the
// check is on the address connected to, so DNS rebinding fails too).
func TestClientRefusesLoopback(t *testing.T) {
	srv, n := hits(t, nil)
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]

	prod := NewClient(false)
	for _, u := range []string{srv.URL, "http://localhost:" + port + "/"} {
		if _, err := get(t, prod, u); !errors.Is(err, ErrAddressRefused) {
			t.Errorf("GET %s in production: err %v, want ErrAddressRefused", u, err)
		}
	}

	// A name resolved by a DNS server that answers 127.0.0.1 for
	// everything: a public-looking name rebound to loopback.
	dns := fakeDNS(t, net.IPv4(127, 0, 0, 1))
	resolving := func(allowLocal bool) *http.Client {
		return newClient(&net.Dialer{Timeout: time.Second, Resolver: &net.Resolver{
			PreferGo: true,
			Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "udp", dns)
			},
		}}, allowLocal)
	}
	rebound := "http://hooks.example.com:" + port + "/"
	if _, err := get(t, resolving(false), rebound); !errors.Is(err, ErrAddressRefused) {
		t.Errorf("GET a name resolving to 127.0.0.1 in production: err %v, want ErrAddressRefused", err)
	}
	if got := n.Load(); got != 0 {
		t.Errorf("the server got %d requests in production, want 0", got)
	}

	// With allowLocal the literal goes through, and so does the name
	// (which shows the fake resolver answered): the dialer allows
	// 127.0.0.1 there, ValidateURI refuses names of loopback at PUT.
	if resp, err := get(t, NewClient(true), srv.URL); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s with allowLocal: %v %v", srv.URL, resp, err)
	}
	if resp, err := get(t, resolving(true), rebound); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s with allowLocal through the fake resolver: %v %v", rebound, resp, err)
	}
	if got := n.Load(); got != 2 {
		t.Errorf("the server got %d requests, want 2", got)
	}
}

func TestClientNoRedirectNoProxy(t *testing.T) {
	target, landed := hits(t, nil)
	srv, _ := hits(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusTemporaryRedirect)
	})
	// A proxy from the environment would be used for this request if the
	// client read it; the client must connect directly.
	t.Setenv("HTTP_PROXY", "http://10.255.255.1:3128")
	t.Setenv("http_proxy", "http://10.255.255.1:3128")
	c := NewClient(true)
	resp, err := get(t, c, srv.URL)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("status %d, want the redirect itself (307)", resp.StatusCode)
	}
	if landed.Load() != 0 {
		t.Error("the client followed the redirect")
	}
	if c.Timeout != Timeout || Timeout != 10*time.Second {
		t.Errorf("client timeout %v, want 10s", c.Timeout)
	}
	if tr, ok := c.Transport.(*http.Transport); !ok || tr.Proxy != nil {
		t.Error("the transport has a proxy function")
	}
}

func TestDialControl(t *testing.T) {
	cases := []struct {
		network, addr string
		prod, local   bool
	}{
		{"tcp4", "93.184.216.34:443", true, true},
		{"tcp6", "[2606:4700:4700::1111]:443", true, true},
		{"tcp4", "127.0.0.1:8765", false, true},
		{"tcp6", "[::1]:8765", false, true},
		{"tcp4", "10.0.0.1:443", false, false},
		{"tcp4", "169.254.169.254:80", false, false},
		{"tcp6", "[fd00:ec2::254]:80", false, false},
		{"tcp6", "[fe80::1%eth0]:443", false, false},
		{"tcp4", "100.64.1.1:443", false, false},
		{"udp4", "93.184.216.34:53", false, false},
		{"tcp4", "not-an-address", false, false},
	}
	for _, tc := range cases {
		for _, allowLocal := range []bool{false, true} {
			want := tc.prod
			if allowLocal {
				want = tc.local
			}
			err := dialControl(allowLocal)(tc.network, tc.addr, nil)
			if (err == nil) != want {
				t.Errorf("control(%s, %s, allowLocal=%v) = %v, want allowed=%v", tc.network, tc.addr, allowLocal, err, want)
			}
			if err != nil && !errors.Is(err, ErrAddressRefused) {
				t.Errorf("control error %v is not ErrAddressRefused", err)
			}
		}
	}
}

// fakeDNS serves, on 127.0.0.1 over UDP, an A record with ip for every
// A question (and an empty answer for any other), and returns its
// address.
func fakeDNS(t *testing.T, ip net.IP) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := dnsAnswer(buf[:n], ip.To4()); resp != nil {
				_, _ = pc.WriteTo(resp, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// dnsAnswer builds the response to one DNS query.
func dnsAnswer(q []byte, ip net.IP) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil
	}
	// The question: a name (labels) then type and class.
	i := 12
	for i < len(q) && q[i] != 0 {
		i += int(q[i]) + 1
	}
	if i+5 > len(q) {
		return nil
	}
	question := q[12 : i+5]
	qtype := binary.BigEndian.Uint16(q[i+1 : i+3])
	resp := make([]byte, 12, 64)
	copy(resp, q[:2])                            // id
	binary.BigEndian.PutUint16(resp[2:], 0x8180) // response, recursion desired and available
	binary.BigEndian.PutUint16(resp[4:], 1)      // one question
	resp = append(resp, question...)
	if qtype == 1 { // A
		binary.BigEndian.PutUint16(resp[6:], 1) // one answer
		resp = append(resp, 0xc0, 12)           // the name: a pointer to the question's
		resp = binary.BigEndian.AppendUint16(resp, 1)
		resp = binary.BigEndian.AppendUint16(resp, 1)
		resp = binary.BigEndian.AppendUint32(resp, 60)
		resp = binary.BigEndian.AppendUint16(resp, 4)
		resp = append(resp, ip...)
	}
	return resp
}

// The client's errors, through Deliverer, never carry the URL: see
// TestDeliverErrorsNameNoURI. Here: redact keeps the cause only.
func TestRedact(t *testing.T) {
	err := redact(&url.Error{Op: "Post", URL: "https://example.com/hook?token=s3cret", Err: errors.New("boom")})
	if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("redact = %q", err)
	}
}
