package gateway

import (
	"testing"

	"sio/internal/testutil"
)

// TestMessageTextsRunNoScriptInABrowser: message texts built from an XSS
// corpus, received by another client through the gateway, inserted with
// innerHTML into a page in headless Chromium, run nothing.
func TestMessageTextsRunNoScriptInABrowser(t *testing.T) {
	corpus := testutil.XSSCorpus(t)
	tg := startGateway(t, func(c *Config) { c.MaxViolations = 0 })
	tg.connect("sender", carol)
	tg.connect("reader", bob)
	tg.ok("sender", "channel:join", map[string]any{"channelId": "general"})
	tg.ok("reader", "channel:join", map[string]any{"channelId": "general"})
	var texts []string
	for _, p := range corpus {
		a := tg.emit("sender", "message:send", map[string]any{"channelId": "general", "text": p})
		if !a.OK {
			continue // empty once sanitized, or too long: nothing to render
		}
		var m Message
		tg.next("reader", "message:new", &m)
		texts = append(texts, m.Text)
	}
	if len(texts) < len(corpus)/2 {
		t.Fatalf("only %d of %d payloads were accepted", len(texts), len(corpus))
	}
	// The first fragment is a control: raw markup that does run.
	frags := append([]string{`<img src=x onerror=alert(1)>`}, texts...)
	ran := testutil.ScriptsRun(t, frags)
	if len(ran) == 0 || ran[0] != 0 {
		t.Fatalf("the harness did not see the control run (%v)", ran)
	}
	for _, i := range ran[1:] {
		if i < 0 {
			t.Errorf("script ran outside any fragment's frame")
			continue
		}
		t.Errorf("script ran from message text %q", frags[i])
	}
}
