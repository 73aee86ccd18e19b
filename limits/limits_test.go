package limits

import (
	"context"
	"errors"
	"html"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

const sec = int64(time.Second)

func TestTokenBucketAllowsBurstThenRate(t *testing.T) {
	l := Limit{Rate: 10, Burst: 3}
	var b Bucket
	now := 5 * sec
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow(&b, now); !ok {
			t.Fatalf("event %d of the burst refused", i)
		}
	}
	ok, wait := l.Allow(&b, now)
	if ok {
		t.Fatal("4th event in the same instant allowed past a burst of 3")
	}
	if wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("wait %v, want ~100ms for 10/s", wait)
	}
	if ok, _ := l.Allow(&b, now+int64(wait)); !ok {
		t.Fatal("refused after waiting the advertised time")
	}
	// A long idle time refills only up to the burst.
	n := 0
	for ok, _ := l.Allow(&b, now+100*sec); ok; ok, _ = l.Allow(&b, now+100*sec) {
		n++
	}
	if n != 3 {
		t.Fatalf("after idling, %d events allowed, want the burst of 3", n)
	}
}

func TestFixedWindow(t *testing.T) {
	l := PerWindow(2, time.Second)
	var b Bucket
	now := 10 * sec
	if ok, _ := l.Allow(&b, now); !ok {
		t.Fatal("first refused")
	}
	if ok, _ := l.Allow(&b, now+sec/2); !ok {
		t.Fatal("second refused")
	}
	ok, wait := l.Allow(&b, now+sec/2)
	if ok || wait != time.Second/2 {
		t.Fatalf("third: ok=%v wait=%v, want refused with 500ms", ok, wait)
	}
	if ok, _ := l.Allow(&b, now+sec); !ok {
		t.Fatal("refused in the next window")
	}
}

func TestZeroLimitAllowsEverything(t *testing.T) {
	var l Limit
	var b Bucket
	for i := 0; i < 1000; i++ {
		if ok, _ := l.Allow(&b, 1); !ok {
			t.Fatal("zero Limit refused")
		}
	}
}

func TestEventLimitsPerEventAndDefault(t *testing.T) {
	tbl := NewEventLimits(PerSecond(100), map[string]Limit{"typing": PerWindow(1, time.Second)})
	st := tbl.NewState()
	now := sec
	if ok, _ := tbl.Allow(st, []byte("typing"), now); !ok {
		t.Fatal("first typing refused")
	}
	if ok, _ := tbl.Allow(st, []byte("typing"), now); ok {
		t.Fatal("second typing in the window allowed")
	}
	// Other events use the default and are not affected by typing's limit.
	for i := 0; i < 50; i++ {
		if ok, _ := tbl.Allow(st, []byte("message"), now); !ok {
			t.Fatalf("message %d refused under the default of 100/s", i)
		}
	}
	// A second connection has its own state.
	st2 := tbl.NewState()
	if ok, _ := tbl.Allow(st2, []byte("typing"), now); !ok {
		t.Fatal("another connection's typing refused")
	}
}

func TestKeyedIsolatesKeysAndSweepsIdleOnes(t *testing.T) {
	k := NewKeyed(PerWindow(1, time.Minute))
	if ok, _ := k.Allow([]byte("10.0.0.1"), sec); !ok {
		t.Fatal("first refused")
	}
	if ok, _ := k.Allow([]byte("10.0.0.1"), sec); ok {
		t.Fatal("second for the same key allowed")
	}
	if ok, _ := k.Allow([]byte("10.0.0.2"), sec); !ok {
		t.Fatal("another key refused")
	}
	if k.Len() != 2 {
		t.Fatalf("Len %d", k.Len())
	}
	if n := k.Sweep(sec+int64(2*time.Minute), time.Minute); n != 2 || k.Len() != 0 {
		t.Fatalf("Sweep removed %d, %d left", n, k.Len())
	}
}

// TestKeyedSweepNeverForgetsALimitInForce: a sweep with a short idle time
// (the gateway sweeps every 10 min) must not reset a key whose window (or
// bucket refill) is still running: that would let a limited user in early.
func TestKeyedSweepNeverForgetsALimitInForce(t *testing.T) {
	for _, c := range []struct {
		name  string
		limit Limit
		span  time.Duration // until the state no longer matters
	}{
		{"window", PerWindow(2, time.Hour), time.Hour},
		{"bucket", Limit{Rate: 1.0 / 600, Burst: 2}, 20 * time.Minute}, // one token per 10 min
	} {
		k := NewKeyed(c.limit)
		for range 2 {
			k.Allow([]byte("u"), sec)
		}
		if ok, _ := k.Allow([]byte("u"), sec); ok {
			t.Fatalf("%s: a third event allowed", c.name)
		}
		mid := sec + int64(c.span/2)
		if n := k.Sweep(mid, time.Minute); n != 0 {
			t.Fatalf("%s: a sweep halfway through removed %d keys", c.name, n)
		}
		if ok, _ := k.Allow([]byte("u"), mid); ok && c.name == "window" {
			t.Fatalf("%s: allowed again halfway through its window", c.name)
		}
		if n := k.Sweep(mid+int64(c.span)+int64(2*time.Minute), time.Minute); n != 1 {
			t.Fatalf("%s: a sweep after the span removed %d keys, want 1", c.name, n)
		}
	}
}

func TestKeyedConcurrent(t *testing.T) {
	k := NewKeyed(PerWindow(1000, time.Hour))
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				if ok, _ := k.Allow([]byte("user-1"), sec); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed != 1000 {
		t.Fatalf("%d allowed of 4000 concurrent tries, want exactly 1000", allowed)
	}
}

func TestAdmissionCapsAndReleases(t *testing.T) {
	a := &Admission{MaxConns: 3, MaxConnsPerIP: 2}
	ip1, ip2 := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")
	if d := a.Admit(ip1, sec); !d.OK {
		t.Fatal(d)
	}
	if d := a.Admit(ip1, sec); !d.OK {
		t.Fatal(d)
	}
	if d := a.Admit(ip1, sec); d.OK || d.Status != 429 || d.RetryAfter <= 0 {
		t.Fatalf("third from one IP: %+v, want 429 with Retry-After", d)
	}
	if d := a.Admit(ip2, sec); !d.OK {
		t.Fatal(d)
	}
	if d := a.Admit(netip.MustParseAddr("127.0.0.4"), sec); d.OK || d.Status != 503 {
		t.Fatalf("over the process cap: %+v, want 503", d)
	}
	a.Release(ip1)
	a.Release(ip1)
	a.Release(ip2)
	if a.Open() != 0 || a.TrackedIPs() != 0 {
		t.Fatalf("after releases: open %d, tracked IPs %d", a.Open(), a.TrackedIPs())
	}
}

func TestAdmissionNewConnectionsPerMinuteAndHandshakeRate(t *testing.T) {
	a := &Admission{NewPerIPPerMinute: 2, HandshakesPerSec: 2}
	ip := netip.MustParseAddr("127.0.0.9")
	for i := 0; i < 2; i++ {
		if d := a.Admit(ip, sec); !d.OK {
			t.Fatal(d)
		}
		a.Release(ip)
	}
	if d := a.Admit(ip, sec+int64(10*time.Second)); d.OK || d.Status != 429 || d.RetryAfter < 49*time.Second {
		t.Fatalf("third within the minute: %+v", d)
	}
	if d := a.Admit(ip, sec+int64(time.Minute)); !d.OK {
		t.Fatalf("a minute later: %+v", d)
	}
	a.Release(ip)
	a.Sweep(sec + int64(3*time.Minute))
	if a.TrackedIPs() != 0 {
		t.Fatalf("tracked IPs after sweep: %d", a.TrackedIPs())
	}
	a.AllowHandshake(sec)
	a.AllowHandshake(sec)
	if d := a.AllowHandshake(sec); d.OK || d.Status != 503 {
		t.Fatalf("handshake over rate: %+v", d)
	}
}

func TestBreakerOpensHalfOpensAndCloses(t *testing.T) {
	now := time.Unix(1000, 0)
	var changes []string
	b := &Breaker{Name: "redis", Threshold: 3, Cooldown: time.Second, Now: func() time.Time { return now },
		OnStateChange: func(name string, from, to BreakerState) { changes = append(changes, from.String()+">"+to.String()) }}
	boom := errors.New("boom")
	fail := func(context.Context) error { return boom }
	for i := 0; i < 3; i++ {
		if err := b.Do(context.Background(), fail); err != boom {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if st := b.Stats(); st.State != Open || st.Trips != 1 || st.LastError != "boom" {
		t.Fatalf("after 3 failures: %+v", st)
	}
	called := false
	if err := b.Do(context.Background(), func(context.Context) error { called = true; return nil }); err != ErrOpen || called {
		t.Fatalf("open breaker let a call through: %v %v", err, called)
	}
	now = now.Add(time.Second)
	// Half-open: one probe at a time.
	if err := b.Allow(); err != nil {
		t.Fatal(err)
	}
	if err := b.Allow(); err != ErrOpen {
		t.Fatalf("second concurrent probe: %v", err)
	}
	b.Done(boom) // the probe failed: open again, a second trip
	if st := b.Stats(); st.State != Open || st.Trips != 2 {
		t.Fatalf("after a failed probe: %+v", st)
	}
	now = now.Add(time.Second)
	if err := b.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.State != Closed || st.Failures != 0 {
		t.Fatalf("after a good probe: %+v", st)
	}
	want := "closed>open,open>half-open,half-open>open,open>half-open,half-open>closed"
	if got := strings.Join(changes, ","); got != want {
		t.Fatalf("transitions %s, want %s", got, want)
	}
}

// TestBreakerResetClosesAnOpenBreaker: an operator's recovery lets calls
// through at once instead of after the cooldown, and keeps the trip count.
func TestBreakerResetClosesAnOpenBreaker(t *testing.T) {
	now := time.Unix(1000, 0)
	b := &Breaker{Name: "backend", Threshold: 1, Cooldown: time.Hour, Now: func() time.Time { return now }}
	_ = b.Do(context.Background(), func(context.Context) error { return errors.New("down") })
	if err := b.Allow(); err != ErrOpen {
		t.Fatalf("breaker not open after a failure: %v", err)
	}
	b.Reset()
	if err := b.Allow(); err != nil {
		t.Fatalf("reset breaker refused a call: %v", err)
	}
	b.Done(nil)
	if st := b.Stats(); st.State != Closed || st.Trips != 1 || st.Failures != 0 {
		t.Fatalf("after reset: %+v", st)
	}
}

func TestSanitizeText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"hello world", "hello world"},
		{"time: 10:30, ok? 100%", "time: 10:30, ok? 100%"},
		{"héllo 你好 🎉", "héllo 你好 🎉"},
		{"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{`<img src=x onerror="alert(1)">`, "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"},
		{"<a href='javascript:alert(1)'>x</a>", "&lt;a href=&#39;javascript\u2236alert(1)&#39;&gt;x&lt;/a&gt;"},
		{"JaVa\tScRiPt:alert(1)", "JaVa\tScRiPt\u2236alert(1)"},
		{"java\nscript:x", "java\nscript\u2236x"},
		{"vbscript:msgbox", "vbscript\u2236msgbox"},
		{"data:text/html;base64,PHNjcmlwdD4=", "data\u2236text/html;base64,PHNjcmlwdD4="},
		{"metadata: fine", "metadata: fine"},
		{"&#60;script&#62;", "&amp;#60;script&amp;#62;"},
		{"&lt;b&gt;", "&amp;lt;b&amp;gt;"},
		{"`${x}`", "&#96;${x}&#96;"},
		{"＜img src=x onerror=alert(1)＞", "&lt;img src=x onerror=alert(1)&gt;"},
		{"\uFE64b\uFE65", "&lt;b&gt;"},
		{"abc\u202Efed", "abcfed"},
		{"pay\u200Bpal", "paypal"},
		{"a\x00b\x07c\x7f", "abc"},
		{"line1\nline2\tx\r", "line1\nline2\tx\r"},
		{"bad \xff\xfe utf8", "bad \uFFFD\uFFFD utf8"},
	} {
		if got := SanitizeText(tc.in); got != tc.want {
			t.Errorf("SanitizeText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// liveScheme returns the first javascript:, vbscript: or data: scheme that
// a browser or a linkifier could find in text that has already been through
// HTML character reference decoding, or "" if there is none. It looks where
// the WHATWG URL parser looks when text is an href (after stripping leading
// and trailing C0 controls and spaces and deleting tabs and newlines), and at
// every position a linkifier might start a link: the start of the text or
// after anything but an ASCII letter or digit, both in the text as written
// and with its tabs and newlines deleted.
func liveScheme(text string) string {
	if sch := hrefScheme(text); sch != "" {
		return sch
	}
	return linkScheme(text)
}

// hrefScheme returns the dangerous scheme of text used as an href, or "".
func hrefScheme(text string) string {
	href := stripTabNewline(strings.TrimFunc(text, func(r rune) bool { return r <= ' ' }))
	if sch := urlScheme(href); sch != "" {
		for _, name := range dangerousSchemes {
			if sch == name {
				return name
			}
		}
	}
	return ""
}

// linkScheme returns a dangerous scheme a linkifier could find in text, or
// "".
func linkScheme(text string) string {
	for _, t := range []string{text, stripTabNewline(text)} {
		for i := 0; i < len(t); i++ {
			if i > 0 && isASCIIAlnum(t[i-1]) {
				continue
			}
			for _, name := range dangerousSchemes {
				if len(t)-i > len(name) && t[i+len(name)] == ':' && asciiEqualFold(t[i:i+len(name)], name) {
					return name
				}
			}
		}
	}
	return ""
}

var dangerousSchemes = []string{"javascript", "vbscript", "data"}

// urlScheme returns the lower-cased scheme of a preprocessed URL as the
// WHATWG URL parser's scheme state reads it: an ASCII letter, then ASCII
// letters, digits, '+', '-' or '.', up to a ':'.
func urlScheme(u string) string {
	if u == "" || !isASCIIAlpha(u[0]) {
		return ""
	}
	for k := 1; k < len(u); k++ {
		c := u[k]
		switch {
		case isASCIIAlnum(c) || c == '+' || c == '-' || c == '.':
		case c == ':':
			return strings.ToLower(u[:k])
		default:
			return ""
		}
	}
	return ""
}

func stripTabNewline(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)
}

func isASCIIAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isASCIIAlnum(c byte) bool { return isASCIIAlpha(c) || c >= '0' && c <= '9' }

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if isASCIIAlpha(x) {
			x |= 0x20
		}
		if isASCIIAlpha(y) {
			y |= 0x20
		}
		if x != y {
			return false
		}
	}
	return true
}

// The sanitizer used to judge schemes on the raw input and drop invisible
// characters afterwards, so a character it dropped could split a scheme name
// from the judge and join it again in the output.
func TestSanitizeTextJudgesSchemesAfterDroppingInvisibleCharacters(t *testing.T) {
	for _, in := range []string{
		"java\u200Bscript:alert(1)",               // zero-width space
		"java\u200Cscript:alert(1)",               // zero-width non-joiner
		"java\u202Escript:alert(1)",               // right-to-left override
		"java\u2066script:alert(1)",               // bidi isolate
		"javascript\u2060:alert(1)",               // word joiner before the colon
		"\u200Bjavascript:alert(1)",               // zero-width space before the name
		"x \uFEFFjavascript:alert(1)",             // BOM before the name
		"d\u00AData:text/html,<script>x</script>", // soft hyphen
		"vb\u061Cscript:msgbox(1)",                // arabic letter mark
		"java\x00script:alert(1)",                 // NUL
		"java\x1bscript:alert(1)",                 // ESC
		"java\u0085script:alert(1)",               // C1 control (NEL)
		"jav\tascript:alert(1)",                   // tab, deleted by URL parsers
		"java\nscript:alert(1)",                   // newline
		"java\r\nscript:alert(1)",                 // CR LF
		"java\t\u200B\nscript\t:alert(1)",         // dropped and deleted characters mixed
		"JaVa\u200DsCrIpT:alert(1)",               // mixed case
		"<a href=\"java\u200Bscript:alert(1)\">x</a>",
	} {
		out := SanitizeText(in)
		if sch := liveScheme(html.UnescapeString(out)); sch != "" {
			t.Errorf("SanitizeText(%q) = %q: live %s: scheme", in, out, sch)
		}
		if strings.Count(out, neutralColon) != 1 {
			t.Errorf("SanitizeText(%q) = %q: want the colon neutralised", in, out)
		}
	}
}

// "&#58;" is no neutralisation: a browser decodes it back into ':' in an
// attribute value (and a client that sets the text as HTML does too).
func TestSanitizeTextNeutralisedColonSurvivesCharacterReferenceDecoding(t *testing.T) {
	for _, in := range []string{
		"javascript:alert(1)",
		"JaVa\tScRiPt:alert(1)",
		"vbscript:msgbox(1)",
		"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
		"<a href='javascript:alert(1)'>x</a>",
	} {
		out := SanitizeText(in)
		if sch := liveScheme(html.UnescapeString(out)); sch != "" {
			t.Errorf("SanitizeText(%q) = %q decodes to a live %s: scheme", in, out, sch)
		}
	}
}

// A scheme is the whole token before the colon: the sanitizer used to flag
// any word ending in "data", so "metadata: x" lost its colon.
func TestSanitizeTextLeavesWordsEndingInASchemeNameAlone(t *testing.T) {
	for _, in := range []string{
		"metadata: x",
		"Metadata:",
		"bigdata:2024",
		"nodata:",
		"xjavascript:",
		"MyJavaScript: notes",
		"2data: second",
		"meta\u200Bdata: x", // the dropped character leaves "metadata"
		"x\tjava\nscript:",  // "xjavascript:" to a URL parser, "script:" to a linkifier
	} {
		want := strings.ReplaceAll(in, "\u200B", "")
		if got := SanitizeText(in); got != want {
			t.Errorf("SanitizeText(%q) = %q, want %q", in, got, want)
		}
	}
	// Still neutralised: the name starts a link for a linkifier there.
	for _, in := range []string{
		"data: x",
		" data:x",
		"x-data:",
		"(javascript:alert(1))",
		"_javascript:",
		"x\tjavascript:",    // a linkifier starts after the tab
		"x \tjava\nscript:", // a URL parser deletes the tab and newline
		"é javascript:",
		"\uFFFDvbscript:",
		"a.javascript:",
	} {
		if got := SanitizeText(in); strings.Count(got, neutralColon) != 1 {
			t.Errorf("SanitizeText(%q) = %q, want the colon neutralised", in, got)
		}
	}
}

func TestSanitizeTextCleanFastPathDoesNotAllocate(t *testing.T) {
	msg := "Meeting moved to 10:30 — see you in room 4B, bring the slides! 👍"
	if got := SanitizeText(msg); got != msg {
		t.Fatalf("clean text changed: %q", got)
	}
	if a := testing.AllocsPerRun(1000, func() { _ = SanitizeText(msg) }); a != 0 {
		t.Fatalf("%v allocs on clean text", a)
	}
}

func TestLengthCountsCharacters(t *testing.T) {
	if err := Length("héllo", 1, 5); err != nil {
		t.Fatalf("5 characters (6 bytes) over a max of 5: %v", err)
	}
	if err := Length("héllo!", 1, 5); err != ErrTooLong {
		t.Fatal(err)
	}
	if err := Length("", 1, 5); err != ErrTooShort {
		t.Fatal(err)
	}
	if err := Length("a\xffb", 0, 5); err != ErrNotUTF8 {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(100, func() { _ = Length("héllo", 1, 5) }); a != 0 {
		t.Fatalf("%v allocs", a)
	}
}

func TestValidateURL(t *testing.T) {
	for _, ok := range []string{"https://example.com", "http://example.com:8080/a?b=c#d", "HTTPS://EXAMPLE.COM/x"} {
		if err := ValidateURL(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"javascript:alert(1)", "data:text/html,x", "//example.com", "https://user:pw@example.com",
		"ftp://example.com", "https://", "https://exa mple.com", "https://example.com/\n", "/relative", "https://" + strings.Repeat("a", 3000)} {
		if err := ValidateURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
