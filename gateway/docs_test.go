package gateway

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocsNameEveryVariableAndEvent keeps docs/OPERATIONS.md and
// docs/EVENTS.md in step with the code: every environment variable that
// LoadConfig reads and every event the gateway handles is documented.
func TestDocsNameEveryVariableAndEvent(t *testing.T) {
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	ops, err := os.ReadFile("../docs/OPERATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	events, err := os.ReadFile("../docs/EVENTS.md")
	if err != nil {
		t.Fatal(err)
	}
	vars := regexp.MustCompile(`(?:str|num|dur|secret|boolean)\(&[^,]+, "[a-z-]+", "([A-Z][A-Z0-9_]+)"`).FindAllSubmatch(src, -1)
	if len(vars) < 20 {
		t.Fatalf("found only %d variables in config.go: the pattern is stale", len(vars))
	}
	for _, v := range vars {
		if name := string(v[1]); !strings.Contains(string(ops), "`"+name+"`") {
			t.Errorf("docs/OPERATIONS.md does not document %s", name)
		}
	}
	for name := range handlers {
		if !strings.Contains(string(events), "`"+name) {
			t.Errorf("docs/EVENTS.md does not document %s", name)
		}
	}
	for name := range DefaultRateLimits() {
		if !strings.Contains(string(ops), "`"+name+"`") {
			t.Errorf("docs/OPERATIONS.md does not list the %s rate limit", name)
		}
	}
}
