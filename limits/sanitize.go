package limits

import (
	"strings"
	"unicode/utf8"
)

// SanitizeText neutralises HTML/JS injection in user text meant to be shown
// as text: HTML specials become entities, so no markup, event handler or
// entity trick survives a render; "javascript:", "vbscript:" and "data:"
// schemes (also when split by tabs or newlines, or in any case) lose their
// colon; control characters, bidi overrides and zero-width characters are
// removed; fullwidth and small angle brackets (which NFKC folds into < and >)
// are escaped; invalid UTF-8 becomes U+FFFD.
//
// Text that needs none of this is returned unchanged without allocating.
func SanitizeText(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '&':
				b.WriteString("&amp;")
			case c == '<':
				b.WriteString("&lt;")
			case c == '>':
				b.WriteString("&gt;")
			case c == '"':
				b.WriteString("&quot;")
			case c == '\'':
				b.WriteString("&#39;")
			case c == '`':
				b.WriteString("&#96;")
			case c == ':' && dangerousScheme(s[:i]):
				b.WriteString("&#58;")
			case c == '\n' || c == '\t' || c == '\r':
				b.WriteByte(c)
			case c < 0x20 || c == 0x7f:
				// dropped
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			b.WriteRune(utf8.RuneError)
		case invisible(r):
			// dropped
		case r == '\uFF1C' || r == '\uFE64':
			b.WriteString("&lt;")
		case r == '\uFF1E' || r == '\uFE65':
			b.WriteString("&gt;")
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// clean reports whether s needs no change (the fast path).
func clean(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '&' || c == '<' || c == '>' || c == '"' || c == '\'' || c == '`':
				return false
			case c == ':':
				if dangerousScheme(s[:i]) {
					return false
				}
			case c < 0x20 && c != '\n' && c != '\t' && c != '\r', c == 0x7f:
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n <= 1) || invisible(r) ||
			r == '\uFF1C' || r == '\uFE64' || r == '\uFF1E' || r == '\uFE65' {
			return false
		}
		i += n
	}
	return true
}

// invisible reports characters that reorder or hide text: bidi controls and
// zero-width characters.
func invisible(r rune) bool {
	switch {
	case r >= 0x200B && r <= 0x200F: // zero-width space/joiners, LRM, RLM
		return true
	case r >= 0x202A && r <= 0x202E: // bidi embeddings and overrides
		return true
	case r >= 0x2060 && r <= 0x2069: // word joiner, invisible operators, bidi isolates
		return true
	case r == 0xFEFF || r == 0x180E:
		return true
	}
	return false
}

// dangerousScheme reports whether the text before a colon ends with a
// script-capable URL scheme, ignoring case and the tabs, newlines and
// spaces browsers strip from URLs.
func dangerousScheme(before string) bool {
	var buf [10]byte
	n := 0
	for i := len(before) - 1; i >= 0 && n < len(buf); i-- {
		c := before[i]
		switch {
		case c == '\t' || c == '\n' || c == '\r' || c == ' ':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c >= 'a' && c <= 'z':
		default:
			i = -1 // stop: not a letter
			continue
		}
		buf[len(buf)-1-n] = c
		n++
	}
	w := string(buf[len(buf)-n:])
	return strings.HasSuffix(w, "javascript") || strings.HasSuffix(w, "vbscript") || strings.HasSuffix(w, "data")
}
