package limits

import (
	"strings"
	"unicode/utf8"
)

// neutralColon replaces the colon of a script-capable URL scheme in
// SanitizeText's output. It is U+2236 RATIO: it reads as a colon, it is not a
// character reference that a browser would decode back into ':' (as "&#58;"
// is), no URL parser accepts it in a scheme, and unlike U+FF1A FULLWIDTH
// COLON or U+FE55 SMALL COLON it has no compatibility decomposition, so NFKC
// normalisation downstream cannot turn it back into ':' either.
const neutralColon = "\u2236"

// SanitizeText makes user text safe to insert into HTML as text or as a
// quoted attribute value, and keeps it from forming a script-capable link.
// It works in one pass that first normalises each character and then judges
// URL schemes on the normalised output as it is written, so the characters it
// drops cannot hide a scheme from it:
//
//   - Removed: C0 and C1 control characters except tab, newline and carriage
//     return; bidi controls (U+061C, U+200E, U+200F, U+202A–U+202E,
//     U+2066–U+2069); zero-width and invisible characters (U+200B–U+200D,
//     U+2060–U+2065, U+FEFF, U+180E); the soft hyphen U+00AD.
//   - Invalid UTF-8 becomes U+FFFD.
//   - & < > " ' ` become the character references &amp; &lt; &gt; &quot;
//     &#39; &#96;; fullwidth and small angle brackets (which NFKC folds into
//     < and >) become &lt; and &gt;.
//   - A colon that ends the scheme name "javascript", "vbscript" or "data"
//     in the normalised text, in any case, is replaced by U+2236 RATIO
//     ("∶"), which reads as a colon, but which neither a browser's character
//     reference decoding nor NFKC normalisation turns back into ':'. The
//     name counts where a URL parser or a linkifier would find it: with tabs,
//     newlines and carriage returns deleted (as URL parsers do) it starts the
//     text or follows anything but an ASCII letter or digit; or, unbroken,
//     it follows a tab, newline or carriage return. So "metadata:" is left
//     alone, while "java\tscript:", "x-data:", "(javascript:" and
//     "x\tjavascript:" are neutralised.
//
// The output is not safe in unquoted attribute values (it keeps spaces and
// '='), inside <script> or <style>, or as a URL: check URLs with ValidateURL.
//
// Text that needs none of this is returned unchanged without allocating.
func SanitizeText(s string) string {
	// Until the first change the output is s[:i] itself and b is untouched.
	// After it, the output is b's content followed by s[last:i], input kept
	// as is but not yet copied.
	var b strings.Builder
	dirty := false
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		n := 1
		var rep string // what replaces s[i:i+n]; "" drops it
		if c < utf8.RuneSelf {
			switch c {
			case '&':
				rep = "&amp;"
			case '<':
				rep = "&lt;"
			case '>':
				rep = "&gt;"
			case '"':
				rep = "&quot;"
			case '\'':
				rep = "&#39;"
			case '`':
				rep = "&#96;"
			case ':':
				out := s[:i]
				if dirty {
					b.WriteString(s[last:i])
					last = i
					out = b.String()
				}
				if !endsWithDangerousScheme(out) {
					i++
					continue
				}
				rep = neutralColon
			case '\t', '\n', '\r':
				i++
				continue
			default:
				if c >= 0x20 && c != 0x7f {
					i++
					continue
				}
				// other C0 controls and DEL are dropped
			}
		} else {
			r, size := utf8.DecodeRuneInString(s[i:])
			n = size
			switch {
			case r == utf8.RuneError && size == 1:
				rep = "\uFFFD"
			case dropped(r):
			case r == '\uFF1C' || r == '\uFE64':
				rep = "&lt;"
			case r == '\uFF1E' || r == '\uFE65':
				rep = "&gt;"
			default:
				i += n
				continue
			}
		}
		if !dirty {
			dirty = true
			b.Grow(len(s) + 16)
		}
		b.WriteString(s[last:i])
		b.WriteString(rep)
		i += n
		last = i
	}
	if !dirty {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// dropped reports the non-ASCII characters SanitizeText removes: C1
// controls, bidi controls, zero-width and invisible characters, and the
// soft hyphen.
func dropped(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9F: // C1 controls
	case r == 0x00AD: // soft hyphen: invisible unless a line breaks there
	case r == 0x061C: // arabic letter mark (bidi control)
	case r == 0x180E: // mongolian vowel separator
	case r >= 0x200B && r <= 0x200F: // zero-width space/non-joiner/joiner, LRM, RLM
	case r >= 0x202A && r <= 0x202E: // bidi embeddings and overrides
	case r >= 0x2060 && r <= 0x2069: // word joiner, invisible operators, bidi isolates
	case r == 0xFEFF: // zero-width no-break space (BOM)
	default:
		return false
	}
	return true
}

// endsWithDangerousScheme reports whether the normalised output written
// before a colon ends with a script-capable scheme name.
func endsWithDangerousScheme(out string) bool {
	return endsWithScheme(out, "javascript") || endsWithScheme(out, "vbscript") || endsWithScheme(out, "data")
}

// endsWithScheme reports whether out ends with name (lower case ASCII), in
// any ASCII case, where a URL parser or a linkifier would read it as a
// scheme. A URL parser deletes tabs, newlines and carriage returns, so they
// may split the name, which must then start the text or follow anything but
// an ASCII letter or digit. A linkifier reads the text as written and starts
// a link after a tab or newline too, if the name is unbroken. Everything
// else SanitizeText writes is a boundary, as the character it stands for is
// to a browser or linkifier: its character references end in ';', and
// U+FFFD and the neutral colon are not ASCII.
//
// The scan never passes a colon, so over a whole text it reads each byte at
// most twice per name.
func endsWithScheme(out, name string) bool {
	j := len(out)
	split := false
	for k := len(name) - 1; k >= 0; k-- {
		for j > 0 && isTabOrNewline(out[j-1]) {
			j--
			split = true
		}
		if j == 0 || out[j-1]|0x20 != name[k] {
			return false
		}
		j--
	}
	if !split && j > 0 && isTabOrNewline(out[j-1]) {
		return true
	}
	for j > 0 && isTabOrNewline(out[j-1]) {
		j--
	}
	if j == 0 {
		return true
	}
	c := out[j-1]
	return !(c|0x20 >= 'a' && c|0x20 <= 'z' || c >= '0' && c <= '9')
}

func isTabOrNewline(c byte) bool { return c == '\t' || c == '\n' || c == '\r' }
