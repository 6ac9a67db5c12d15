package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outdial/outdial/internal/webhook"
)

// docsPath is the document whose verification examples are checked.
const docsPath = "../../docs/api.md"

// docBlock returns the body of the first fenced block of docs/api.md with
// info string lang that contains marker.
func docBlock(t *testing.T, lang, marker string) string {
	t.Helper()
	b, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	var in bool
	var info string
	var body []string
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "```"); ok {
			if !in {
				in, info, body = true, strings.TrimSpace(rest), nil
				continue
			}
			in = false
			if text := strings.Join(body, "\n"); info == lang && strings.Contains(text, marker) {
				return text + "\n"
			}
			continue
		}
		if in {
			body = append(body, line)
		}
	}
	t.Fatalf("%s has no ```%s block with %q", docsPath, lang, marker)
	return ""
}

// vector is one delivery to verify, and what the documented checks
// must say.
type vector struct {
	name   string
	secret string // the receiver's
	ts     int64
	sig    string
	body   []byte
	want   bool
}

func vectors() []vector {
	body := []byte(`{"events":[{"id":"c4ca4238a0b923820dcc509a6f75849b","type":"ping","tm":"2026-12-07T06:40:00.000000Z","data":{"message":"ping"}}]}`)
	now := time.Now().Unix()
	const current, previous = "whsec_0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab", "whsec_old"
	rotating := webhook.Sign([]string{current, previous}, now, body)
	return []vector{
		{"current secret", current, now, webhook.Sign([]string{current}, now, body), body, true},
		{"old secret during a rotation", previous, now, rotating, body, true},
		{"new secret during a rotation", current, now, rotating, body, true},
		{"another secret", "whsec_other", now, rotating, body, false},
		{"tampered body", current, now, rotating, append(bytes.Clone(body[:len(body)-1]), ' ', '}'), false},
		{"replayed an hour later", current, now - 3600, webhook.Sign([]string{current}, now-3600, body), body, false},
	}
}

// TestDocumentedShellVerification runs docs/api.md's shell and OpenSSL
// check on deliveries signed as deliver-webhooks signs them.
func TestDocumentedShellVerification(t *testing.T) {
	for _, tool := range []string{"bash", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	script := docBlock(t, "", "openssl dgst")
	dir := t.TempDir()
	for _, v := range vectors() {
		t.Run(v.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "body.json"), v.body, 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("bash", "-c", script)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "TS="+strconv.FormatInt(v.ts, 10), "SIG="+v.sig, "SECRET="+v.secret)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the documented check failed: %v\n%s", err, out)
			}
			if got := strings.TrimSpace(string(out)) == "verified"; got != v.want {
				t.Errorf("the documented check says %q, want verified = %v", strings.TrimSpace(string(out)), v.want)
			}
			// The reference implementation agrees.
			err = webhook.Verify(v.secret, v.sig, v.ts, v.body, time.Now(), 0)
			if got := err == nil; got != v.want {
				t.Errorf("webhook.Verify = %v, want success %v", err, v.want)
			}
		})
	}
}

// TestDocumentedGoVerification compiles docs/api.md's Go verify function
// and runs it on the same deliveries.
func TestDocumentedGoVerification(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a program")
	}
	fn := docBlock(t, "go", "func verify(")
	src := `package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

` + fn + `
func main() {
	h := http.Header{}
	h.Set("X-Outdial-Timestamp", os.Getenv("TS"))
	h.Set("X-Outdial-Signature", os.Getenv("SIG"))
	body, err := os.ReadFile("body.json")
	if err != nil {
		panic(err)
	}
	fmt.Println(verify(os.Getenv("SECRET"), h, body, time.Now()))
}
`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module verify\n\ngo 1.22\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "verify")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GO111MODULE=on", "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the documented Go example does not compile: %v\n%s\n%s", err, out, src)
	}
	for _, v := range vectors() {
		t.Run(v.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "body.json"), v.body, 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "TS="+strconv.FormatInt(v.ts, 10), "SIG="+v.sig, "SECRET="+v.secret)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if got := strings.TrimSpace(string(out)); got != strconv.FormatBool(v.want) {
				t.Errorf("verify = %s, want %v", got, v.want)
			}
		})
	}
}
