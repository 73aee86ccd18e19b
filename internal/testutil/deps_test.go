package testutil

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
)

// fakeTB records how a helper ended a test. Fatalf and Skipf end the
// calling goroutine, as the real ones do, so that code after them in the
// helper never runs.
type fakeTB struct {
	testing.TB // nil: any other method panics
	fatal      string
	skip       string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// runFake runs fn with a fakeTB on a goroutine of its own and reports whether
// fn returned normally.
func runFake(fn func(testing.TB)) (f *fakeTB, returned bool) {
	f = &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
		returned = true
	}()
	<-done
	return f, returned
}

func TestRequireDependencyFailsUnderCIAndSkipsElsewhere(t *testing.T) {
	for _, tt := range []struct {
		ci    string // "-" for unset
		fatal bool
	}{
		{"true", true},
		{"1", true},
		{"TRUE", true},
		{"-", false},
		{"", false},
		{"false", false},
		{"0", false},
	} {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			if tt.ci == "-" {
				os.Unsetenv("CI") // t.Setenv restores the old value at the end
			}
			f, returned := runFake(func(tb testing.TB) {
				RequireDependency(tb, "interop: node is not on PATH", "run `make deps`")
			})
			if returned {
				t.Fatal("RequireDependency returned: the test would go on without its dependency")
			}
			if tt.fatal {
				if f.fatal == "" || f.skip != "" {
					t.Fatalf("CI=%s: fatal %q, skip %q; want a failure", tt.ci, f.fatal, f.skip)
				}
				if !strings.Contains(f.fatal, "node is not on PATH") || !strings.Contains(f.fatal, "make deps") {
					t.Fatalf("failure %q does not say what is missing and how to install it", f.fatal)
				}
				return
			}
			if f.skip == "" || f.fatal != "" {
				t.Fatalf("CI=%s: fatal %q, skip %q; want a skip", tt.ci, f.fatal, f.skip)
			}
			if !strings.Contains(f.skip, "node is not on PATH") || !strings.Contains(f.skip, "make deps") {
				t.Fatalf("skip %q does not say what is missing and how to install it", f.skip)
			}
		})
	}
}
