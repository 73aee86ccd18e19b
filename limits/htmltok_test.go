package limits

import (
	"strings"
	"testing"
)

// A browser-like HTML tokenizer for testing SanitizeText: the states of the
// WHATWG HTML tokenizer (https://html.spec.whatwg.org/#tokenization) that
// decide where tags, attributes, comments and character references start
// and end, outside foreign content and outside raw text elements. It follows
// the spec's transitions, including its error recovery, so that it breaks
// text where a browser would: "<a" opens a tag, "</a" an end tag, "<!" a
// comment or doctype, "<?" and "</ " bogus comments, "&..." a character
// reference (named, with or without ';' for the legacy names, decimal or
// hexadecimal, with the spec's replacements). The named reference table is a
// subset: the legacy names and the punctuation and whitespace names an
// attacker would use.

type htmlTokenKind uint8

const (
	textToken htmlTokenKind = iota
	startTagToken
	endTagToken
	commentToken
	doctypeToken
)

func (k htmlTokenKind) String() string {
	return [...]string{"text", "start tag", "end tag", "comment", "doctype"}[k]
}

type htmlAttr struct{ name, value string }

type htmlToken struct {
	kind        htmlTokenKind
	data        string // character data, tag name, comment or doctype text
	attrs       []htmlAttr
	selfClosing bool
}

type tokenizerState uint8

const (
	dataState tokenizerState = iota
	tagOpenState
	endTagOpenState
	tagNameState
	beforeAttrNameState
	attrNameState
	afterAttrNameState
	beforeAttrValueState
	attrValueDoubleQuotedState
	attrValueSingleQuotedState
	attrValueUnquotedState
	afterAttrValueQuotedState
	selfClosingStartTagState
	bogusCommentState
	markupDeclarationOpenState
	commentStartState
	commentStartDashState
	commentState
	commentEndDashState
	commentEndState
	commentEndBangState
	doctypeState
)

const eof = -1

type htmlTokenizer struct {
	in    []rune
	pos   int
	out   []htmlToken
	text  []rune    // pending character data
	tag   htmlToken // the tag being built
	name  []rune    // the attribute being built
	value []rune
	inAt  bool // an attribute is being built
	buf   []rune
}

// tokenizeHTML splits src into tokens as a browser's tokenizer would, with
// adjacent character data merged into one text token.
func tokenizeHTML(src string) []htmlToken {
	// Input stream preprocessing: bytes that are not UTF-8 become U+FFFD
	// (ranging over a string does that), CR LF and lone CR become LF.
	in := make([]rune, 0, len(src))
	for _, r := range strings.ReplaceAll(src, "\r\n", "\n") {
		if r == '\r' {
			r = '\n'
		}
		in = append(in, r)
	}
	z := &htmlTokenizer{in: in}
	z.run()
	z.flushText()
	return z.out
}

func (z *htmlTokenizer) next() rune {
	z.pos++
	if z.pos > len(z.in) {
		return eof
	}
	return z.in[z.pos-1]
}

func (z *htmlTokenizer) reconsume() { z.pos-- }

func (z *htmlTokenizer) flushText() {
	if len(z.text) > 0 {
		z.out = append(z.out, htmlToken{kind: textToken, data: string(z.text)})
		z.text = z.text[:0]
	}
}

func (z *htmlTokenizer) emit(t htmlToken) {
	z.flushText()
	z.out = append(z.out, t)
}

func (z *htmlTokenizer) newTag(kind htmlTokenKind) {
	z.tag = htmlToken{kind: kind}
	z.inAt = false
}

func (z *htmlTokenizer) newAttr() {
	z.finishAttr()
	z.name, z.value, z.inAt = z.name[:0], z.value[:0], true
}

// finishAttr keeps every attribute, duplicates included (a browser drops
// the later duplicates, but any extra attribute is a break-out to us).
func (z *htmlTokenizer) finishAttr() {
	if z.inAt {
		z.tag.attrs = append(z.tag.attrs, htmlAttr{string(z.name), string(z.value)})
		z.inAt = false
	}
}

func (z *htmlTokenizer) emitTag() {
	z.finishAttr()
	z.emit(z.tag)
}

func isHTMLSpace(r rune) bool { return r == '\t' || r == '\n' || r == '\f' || r == ' ' }
func isASCIIAlphaRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}
func isASCIIAlnumRune(r rune) bool { return isASCIIAlphaRune(r) || r >= '0' && r <= '9' }

func lowerASCII(r rune) rune {
	if r >= 'A' && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}

func (z *htmlTokenizer) run() {
	state := dataState
	for {
		r := z.next()
		switch state {
		case dataState:
			switch r {
			case '&':
				z.text = append(z.text, z.charRef(false)...)
			case '<':
				state = tagOpenState
			case eof:
				return
			default:
				z.text = append(z.text, r)
			}
		case tagOpenState:
			switch {
			case r == '!':
				state = markupDeclarationOpenState
			case r == '/':
				state = endTagOpenState
			case isASCIIAlphaRune(r):
				z.newTag(startTagToken)
				z.reconsume()
				state = tagNameState
			case r == '?':
				z.buf = z.buf[:0]
				z.reconsume()
				state = bogusCommentState
			case r == eof:
				z.text = append(z.text, '<')
				return
			default:
				z.text = append(z.text, '<')
				z.reconsume()
				state = dataState
			}
		case endTagOpenState:
			switch {
			case isASCIIAlphaRune(r):
				z.newTag(endTagToken)
				z.reconsume()
				state = tagNameState
			case r == '>':
				state = dataState
			case r == eof:
				z.text = append(z.text, '<', '/')
				return
			default:
				z.buf = z.buf[:0]
				z.reconsume()
				state = bogusCommentState
			}
		case tagNameState:
			switch {
			case isHTMLSpace(r):
				state = beforeAttrNameState
			case r == '/':
				state = selfClosingStartTagState
			case r == '>':
				z.emitTag()
				state = dataState
			case r == 0:
				z.tag.data += "\uFFFD"
			case r == eof:
				return // eof in tag: the tag is not emitted
			default:
				z.tag.data += string(lowerASCII(r))
			}
		case beforeAttrNameState:
			switch {
			case isHTMLSpace(r):
			case r == '/' || r == '>' || r == eof:
				z.reconsume()
				state = afterAttrNameState
			case r == '=':
				z.newAttr()
				z.name = append(z.name, r)
				state = attrNameState
			default:
				z.newAttr()
				z.reconsume()
				state = attrNameState
			}
		case attrNameState:
			switch {
			case isHTMLSpace(r) || r == '/' || r == '>' || r == eof:
				z.reconsume()
				state = afterAttrNameState
			case r == '=':
				state = beforeAttrValueState
			case r == 0:
				z.name = append(z.name, '\uFFFD')
			default:
				z.name = append(z.name, lowerASCII(r))
			}
		case afterAttrNameState:
			switch {
			case isHTMLSpace(r):
			case r == '/':
				state = selfClosingStartTagState
			case r == '=':
				state = beforeAttrValueState
			case r == '>':
				z.emitTag()
				state = dataState
			case r == eof:
				return
			default:
				z.newAttr()
				z.reconsume()
				state = attrNameState
			}
		case beforeAttrValueState:
			switch {
			case isHTMLSpace(r):
			case r == '"':
				state = attrValueDoubleQuotedState
			case r == '\'':
				state = attrValueSingleQuotedState
			case r == '>':
				z.emitTag()
				state = dataState
			default:
				z.reconsume()
				state = attrValueUnquotedState
			}
		case attrValueDoubleQuotedState, attrValueSingleQuotedState:
			quote := '"'
			if state == attrValueSingleQuotedState {
				quote = '\''
			}
			switch r {
			case quote:
				state = afterAttrValueQuotedState
			case '&':
				z.value = append(z.value, z.charRef(true)...)
			case 0:
				z.value = append(z.value, '\uFFFD')
			case eof:
				return
			default:
				z.value = append(z.value, r)
			}
		case attrValueUnquotedState:
			switch {
			case isHTMLSpace(r):
				state = beforeAttrNameState
			case r == '&':
				z.value = append(z.value, z.charRef(true)...)
			case r == '>':
				z.emitTag()
				state = dataState
			case r == 0:
				z.value = append(z.value, '\uFFFD')
			case r == eof:
				return
			default:
				z.value = append(z.value, r)
			}
		case afterAttrValueQuotedState:
			switch {
			case isHTMLSpace(r):
				state = beforeAttrNameState
			case r == '/':
				state = selfClosingStartTagState
			case r == '>':
				z.emitTag()
				state = dataState
			case r == eof:
				return
			default:
				z.reconsume()
				state = beforeAttrNameState
			}
		case selfClosingStartTagState:
			switch r {
			case '>':
				z.tag.selfClosing = true
				z.emitTag()
				state = dataState
			case eof:
				return
			default:
				z.reconsume()
				state = beforeAttrNameState
			}
		case bogusCommentState:
			switch r {
			case '>':
				z.emit(htmlToken{kind: commentToken, data: string(z.buf)})
				state = dataState
			case eof:
				z.emit(htmlToken{kind: commentToken, data: string(z.buf)})
				return
			case 0:
				z.buf = append(z.buf, '\uFFFD')
			default:
				z.buf = append(z.buf, r)
			}
		case markupDeclarationOpenState:
			z.reconsume()
			z.buf = z.buf[:0]
			switch {
			case z.lookingAt("--", false):
				z.pos += 2
				state = commentStartState
			case z.lookingAt("doctype", true):
				z.pos += 7
				state = doctypeState
			case z.lookingAt("[CDATA[", false):
				// Outside foreign content: a bogus comment "[CDATA[...".
				z.pos += 7
				z.buf = append(z.buf, []rune("[CDATA[")...)
				state = bogusCommentState
			default:
				state = bogusCommentState
			}
		case commentStartState:
			switch r {
			case '-':
				state = commentStartDashState
			case '>': // "<!-->"
				z.emit(htmlToken{kind: commentToken, data: string(z.buf)})
				state = dataState
			default:
				z.reconsume()
				state = commentState
			}
		case commentStartDashState:
			switch r {
			case '-':
				state = commentEndState
			case '>': // "<!--->"
				z.emit(htmlToken{kind: commentToken, data: string(z.buf)})
				state = dataState
			case eof:
				z.emit(htmlToken{kind: commentToken, data: string(z.buf)})
				return
			default:
				z.buf = append(z.buf, '-')
				z.reconsume()
				state = commentState
			}
		case commentState:
			switch r {
			case '-':
				state = commentEndDashState
			case 0:
				z.buf = append(z.buf, '\uFFFD')
			case eof:
				z.emit(htmlToken{kind: commentToken, data: string(z.buf)})
				return
			default:
				z.buf = append(z.buf, r)
			}
		case commentEndDashState:
			switch r {
			case '-':
				state = commentEndState
			case eof:
				z.emit(htmlToken{kind: commentToken, data: string(z.buf)})
				return
			default:
				z.buf = append(z.buf, '-')
				z.reconsume()
				state = commentState
			}
		case commentEndState:
			switch r {
			case '>':
				z.emit(htmlToken{kind: commentToken, data: string(z.buf)})
				state = dataState
			case '!':
				state = commentEndBangState
			case '-':
				z.buf = append(z.buf, '-')
			case eof:
				z.emit(htmlToken{kind: commentToken, data: string(z.buf)})
				return
			default:
				z.buf = append(z.buf, '-', '-')
				z.reconsume()
				state = commentState
			}
		case commentEndBangState:
			switch r {
			case '-':
				z.buf = append(z.buf, '-', '-', '!')
				state = commentEndDashState
			case '>': // "--!>" also ends a comment
				z.emit(htmlToken{kind: commentToken, data: string(z.buf)})
				state = dataState
			case eof:
				z.emit(htmlToken{kind: commentToken, data: string(z.buf)})
				return
			default:
				z.buf = append(z.buf, '-', '-', '!')
				z.reconsume()
				state = commentState
			}
		case doctypeState:
			// The doctype's inner states only split its name and
			// identifiers; it ends at the first '>' or at EOF.
			switch r {
			case '>':
				z.emit(htmlToken{kind: doctypeToken, data: string(z.buf)})
				state = dataState
			case eof:
				z.emit(htmlToken{kind: doctypeToken, data: string(z.buf)})
				return
			default:
				z.buf = append(z.buf, r)
			}
		}
	}
}

func (z *htmlTokenizer) lookingAt(s string, fold bool) bool {
	rest := z.in[z.pos:]
	if len(rest) < len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		r := rest[i]
		if fold {
			r = lowerASCII(r)
		}
		if r != rune(s[i]) {
			return false
		}
	}
	return true
}

// charRef consumes a character reference after a '&' and returns what it
// stands for, following the character reference states: the longest named
// reference in the table (legacy names also without ';', except in an
// attribute value where the next character is '=' or alphanumeric), or a
// decimal or hexadecimal reference with or without ';', with the spec's
// replacements for zero, surrogates, out-of-range values and the C1 range.
// Anything else leaves the '&' as text.
func (z *htmlTokenizer) charRef(inAttribute bool) []rune {
	rest := z.in[z.pos:]
	if len(rest) > 0 && rest[0] == '#' {
		k, base := 1, 10
		if k < len(rest) && (rest[k] == 'x' || rest[k] == 'X') {
			k, base = 2, 16
		}
		start, v := k, 0
		for ; k < len(rest); k++ {
			d := digitValue(rest[k], base)
			if d < 0 {
				break
			}
			if v = v*base + d; v > 0x10FFFF {
				v = 0x110000 // saturate: out of range either way
			}
		}
		if k == start { // absence of digits: "&#" or "&#x" stays text
			return []rune{'&'}
		}
		if k < len(rest) && rest[k] == ';' {
			k++
		}
		z.pos += k
		return []rune{numericReference(v)}
	}
	// Every name is ASCII alphanumerics, some with a final ';': the longest
	// one is a prefix of the alphanumerics that follow, with their ';'.
	n := 0
	for n < len(rest) && n < 64 && isASCIIAlnumRune(rest[n]) {
		n++
	}
	if n < len(rest) && rest[n] == ';' {
		n++
	}
	candidate := string(rest[:n])
	best, bestLen := "", 0
	for l := n; l > 0; l-- {
		if value, ok := namedReferences[candidate[:l]]; ok {
			best, bestLen = value, l
			break
		}
	}
	if bestLen == 0 {
		return []rune{'&'}
	}
	if inAttribute && rest[bestLen-1] != ';' && bestLen < len(rest) &&
		(rest[bestLen] == '=' || isASCIIAlnumRune(rest[bestLen])) {
		z.pos += bestLen
		return append([]rune{'&'}, rest[:bestLen]...)
	}
	z.pos += bestLen
	return []rune(best)
}

func digitValue(r rune, base int) int {
	switch {
	case r >= '0' && r <= '9':
		return int(r - '0')
	case base == 16 && r >= 'a' && r <= 'f':
		return int(r-'a') + 10
	case base == 16 && r >= 'A' && r <= 'F':
		return int(r-'A') + 10
	}
	return -1
}

func numericReference(v int) rune {
	switch {
	case v == 0 || v > 0x10FFFF || v >= 0xD800 && v <= 0xDFFF:
		return '\uFFFD'
	case v >= 0x80 && v <= 0x9F:
		if r, ok := windows1252[v]; ok {
			return r
		}
	}
	return rune(v)
}

// windows1252 is the numeric character reference table for 0x80-0x9F.
var windows1252 = map[int]rune{
	0x80: '\u20AC', 0x82: '\u201A', 0x83: '\u0192', 0x84: '\u201E', 0x85: '\u2026',
	0x86: '\u2020', 0x87: '\u2021', 0x88: '\u02C6', 0x89: '\u2030', 0x8A: '\u0160',
	0x8B: '\u2039', 0x8C: '\u0152', 0x8E: '\u017D', 0x91: '\u2018', 0x92: '\u2019',
	0x93: '\u201C', 0x94: '\u201D', 0x95: '\u2022', 0x96: '\u2013', 0x97: '\u2014',
	0x98: '\u02DC', 0x99: '\u2122', 0x9A: '\u0161', 0x9B: '\u203A', 0x9C: '\u0153',
	0x9E: '\u017E', 0x9F: '\u0178',
}

// namedReferences is a subset of the named character reference table: the
// names without ';' are the legacy ones a browser also accepts unterminated.
var namedReferences = func() map[string]string {
	m := map[string]string{
		"colon;": ":", "Tab;": "\t", "NewLine;": "\n", "apos;": "'", "semi;": ";",
		"sol;": "/", "bsol;": "\\", "lpar;": "(", "rpar;": ")", "num;": "#",
		"excl;": "!", "period;": ".", "comma;": ",", "grave;": "`",
		"DiacriticalGrave;": "`", "equals;": "=", "lsqb;": "[", "rsqb;": "]",
		"lbrack;": "[", "rbrack;": "]", "lcub;": "{", "rcub;": "}", "lbrace;": "{",
		"rbrace;": "}", "quest;": "?", "commat;": "@", "dollar;": "$",
		"percnt;": "%", "ast;": "*", "plus;": "+", "lowbar;": "_", "verbar;": "|",
		"vert;": "|", "Hat;": "^", "zwj;": "\u200D", "zwnj;": "\u200C",
		"ZeroWidthSpace;": "\u200B", "NoBreak;": "\u2060", "lrm;": "\u200E",
		"rlm;": "\u200F", "hyphen;": "\u2010", "dash;": "\u2010",
		"InvisibleTimes;": "\u2062", "ic;": "\u2063",
	}
	for _, legacy := range []struct{ name, value string }{
		{"amp", "&"}, {"AMP", "&"}, {"lt", "<"}, {"LT", "<"}, {"gt", ">"},
		{"GT", ">"}, {"quot", "\""}, {"QUOT", "\""}, {"nbsp", "\u00A0"},
		{"shy", "\u00AD"}, {"copy", "\u00A9"}, {"COPY", "\u00A9"},
		{"reg", "\u00AE"}, {"REG", "\u00AE"}, {"not", "\u00AC"},
		{"deg", "\u00B0"}, {"para", "\u00B6"}, {"sect", "\u00A7"},
		{"middot", "\u00B7"}, {"times", "\u00D7"}, {"divide", "\u00F7"},
		{"eacute", "\u00E9"}, {"uuml", "\u00FC"},
	} {
		m[legacy.name] = legacy.value
		m[legacy.name+";"] = legacy.value
	}
	return m
}()

func TestBrowserTokenizer(t *testing.T) {
	type tk = htmlToken
	for _, tc := range []struct {
		in   string
		want []htmlToken
	}{
		{`<a href="x" title='y' z=w>t</a>`, []tk{
			{kind: startTagToken, data: "a", attrs: []htmlAttr{{"href", "x"}, {"title", "y"}, {"z", "w"}}},
			{kind: textToken, data: "t"},
			{kind: endTagToken, data: "a"},
		}},
		{"<DIV>&lt;&amp;&#39;&#x41;&#65&ampx&notit;&#0;&#x80;&#xD800;&#1114112;&#;&bogus;</div>", []tk{
			{kind: startTagToken, data: "div"},
			{kind: textToken, data: "<&'AA&x\u00ACit;\uFFFD\u20AC\uFFFD\uFFFD&#;&bogus;"},
			{kind: endTagToken, data: "div"},
		}},
		{`<a title="&ampx&amp=&amp;&lt&colon;&Tab;">`, []tk{
			{kind: startTagToken, data: "a", attrs: []htmlAttr{{"title", "&ampx&amp=&<:\t"}}},
		}},
		{"<a title=\"x\"onclick=y/>", []tk{
			{kind: startTagToken, data: "a", attrs: []htmlAttr{{"title", "x"}, {"onclick", "y/"}}},
		}},
		{"<svg/onload=alert(1)>", []tk{
			{kind: startTagToken, data: "svg", attrs: []htmlAttr{{"onload", "alert(1)"}}},
		}},
		{"<br/>", []tk{{kind: startTagToken, data: "br", selfClosing: true}}},
		{"a<!-- c -->b<!-->c<!--->d<!--x--!>e", []tk{
			{kind: textToken, data: "a"}, {kind: commentToken, data: " c "},
			{kind: textToken, data: "b"}, {kind: commentToken},
			{kind: textToken, data: "c"}, {kind: commentToken},
			{kind: textToken, data: "d"}, {kind: commentToken, data: "x"},
			{kind: textToken, data: "e"},
		}},
		{"<?php x ?></ x><![CDATA[y]]><!DOCTYPE html>", []tk{
			{kind: commentToken, data: "?php x ?"}, {kind: commentToken, data: " x"},
			{kind: commentToken, data: "[CDATA[y]]"}, {kind: doctypeToken, data: " html"},
		}},
		{"1 < 2 <3 </> <", []tk{{kind: textToken, data: "1 < 2 <3  <"}}},
		{"<a\r\nb='\r'>", []tk{{kind: startTagToken, data: "a", attrs: []htmlAttr{{"b", "\n"}}}}},
	} {
		got := tokenizeHTML(tc.in)
		if !equalTokens(got, tc.want) {
			t.Errorf("tokenizeHTML(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
}

func equalTokens(a, b []htmlToken) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].kind != b[i].kind || a[i].data != b[i].data || a[i].selfClosing != b[i].selfClosing || len(a[i].attrs) != len(b[i].attrs) {
			return false
		}
		for j := range a[i].attrs {
			if a[i].attrs[j] != b[i].attrs[j] {
				return false
			}
		}
	}
	return true
}
