package limits

import (
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Validation errors.
var (
	ErrTooShort   = errors.New("limits: text too short")
	ErrTooLong    = errors.New("limits: text too long")
	ErrNotUTF8    = errors.New("limits: text is not valid UTF-8")
	ErrBadURL     = errors.New("limits: not an http(s) URL")
	ErrURLTooLong = errors.New("limits: URL too long")
)

// Length checks that s is valid UTF-8 of min..max characters (runes, not
// bytes). It does not allocate.
func Length(s string, min, max int) error {
	if !utf8.ValidString(s) {
		return ErrNotUTF8
	}
	// Bytes bound the rune count from above: skip the count when possible.
	if len(s) < min {
		return ErrTooShort
	}
	n := utf8.RuneCountInString(s)
	if n < min {
		return ErrTooShort
	}
	if max > 0 && n > max {
		return ErrTooLong
	}
	return nil
}

// MaxURLLength bounds ValidateURL.
const MaxURLLength = 2048

// ValidateURL accepts absolute http and https URLs with a host, no user info
// and no whitespace or control characters.
func ValidateURL(raw string) error {
	if len(raw) > MaxURLLength {
		return ErrURLTooLong
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] <= ' ' || raw[i] == 0x7f {
			return ErrBadURL
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Host == "" || u.Opaque != "" {
		return ErrBadURL
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		return nil
	}
	return ErrBadURL
}
