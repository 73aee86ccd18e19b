package testutil

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// RaceEnabled reports whether the test binary was built with -race (read
// from the build settings, so no build-tagged constant file is needed):
// loops that only need to cover the code under the race detector run fewer
// rounds there, and RSS bounds do not hold there.
func RaceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// OpenFDs counts the process's open file descriptors (/proc/self/fd); the
// test is skipped where they cannot be counted.
func OpenFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count fds: %v", err)
	}
	return len(ents)
}

// Resources is a snapshot of what the process holds that a connection could
// leak: open file descriptors and goroutines.
type Resources struct {
	FDs        int
	Goroutines int
}

func (r Resources) String() string { return fmt.Sprintf("%d fds, %d goroutines", r.FDs, r.Goroutines) }

// Snapshot counts the process's open fds and goroutines now.
func Snapshot(t testing.TB) Resources {
	t.Helper()
	return Resources{FDs: OpenFDs(t), Goroutines: runtime.NumGoroutine()}
}

// TotalAlloc is the cumulative heap allocation of the process.
func TotalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// HeapInUse is HeapInuse after two collections (the second empties the
// sync.Pools' victim caches, where pooled buffers wait).
func HeapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// HeapLive is HeapAlloc — the bytes of live objects — after two collections.
func HeapLive() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// vmRSS parses the VmRSS line of /proc/self/status; ok is false without one.
func vmRSS(status []byte) (rss int64, ok bool, err error) {
	for _, line := range strings.Split(string(status), "\n") {
		if v, found := strings.CutPrefix(line, "VmRSS:"); found {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, true, fmt.Errorf("VmRSS line %q: %v", line, err)
			}
			return kb << 10, true, nil
		}
	}
	return 0, false, nil
}

// VMRSS is the process's resident set size (VmRSS of /proc/self/status) in
// bytes; the test is skipped where it cannot be read.
func VMRSS(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("cannot read VmRSS: %v", err)
	}
	rss, ok, err := vmRSS(b)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Skip("no VmRSS in /proc/self/status")
	}
	return rss
}

// ReadRSS is VMRSS without a testing.TB, for samplers on other goroutines:
// 0 when unavailable.
func ReadRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	rss, _, _ := vmRSS(b)
	return rss
}

// SettledRSS collects garbage, returns free memory to the OS and then reads
// VmRSS, so that two readings compare what is live rather than what the
// collector has not yet returned.
func SettledRSS(t testing.TB) int64 {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	return VMRSS(t)
}

// MiB formats a byte count in MiB.
func MiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// SourceDialer dials from 127.0.0.(2+i%199), so that many short-lived
// connections do not run one source address out of ephemeral ports
// (TIME_WAIT).
func SourceDialer(i int) *net.Dialer {
	ip := net.IPv4(127, 0, 0, byte(2+i%199))
	return &net.Dialer{Timeout: IOTimeout, LocalAddr: &net.TCPAddr{IP: ip}}
}
