package testutil

import (
	"os"
	"strconv"
	"testing"
)

// InCI reports whether the CI environment variable is true ("true", "1",
// "TRUE"…, as strconv.ParseBool reads it), as CI systems set it.
func InCI() bool {
	ci, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && ci
}

// RequireDependency is for a test that cannot run because a real dependency
// is missing (node, an npm package, a python3 module…): what says which, and
// hint how to install it. Under CI=true the test fails, since CI must have
// installed everything a test needs and a skipped test there is a test that
// silently never runs; elsewhere it is skipped with the hint.
func RequireDependency(t testing.TB, what, hint string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s. CI=true: CI must install it before the tests: %s", what, hint)
	}
	t.Skipf("%s; %s to enable this test", what, hint)
}
