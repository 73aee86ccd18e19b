package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// The seed corpus of every target lives in testdata/fuzz/<Target>/ and is
// generated from corpus_test.go (see TestSeedCorpus).

func FuzzDecodeText(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		p, err := DecodeText(in)
		if err != nil {
			if err != ErrInvalidPacket {
				t.Fatalf("error %v is not ErrInvalidPacket", err)
			}
			if len(data) > 0 && data[0] >= '0' && data[0] <= '6' {
				t.Fatalf("%q refused", data)
			}
			return
		}
		if p.Type > PacketNoop || p.Binary || p.Type.String() == "error" {
			t.Fatalf("packet %+v", p)
		}
		if !within(in, p.Data) || len(p.Data) != len(in)-1 {
			t.Fatalf("Data %q is not the borrowed rest of %q", p.Data, in)
		}
		if !bytes.Equal(in, data) {
			t.Fatal("DecodeText modified its input")
		}
		if enc := AppendText(nil, p.Type, p.Data); !bytes.Equal(enc, data) {
			t.Fatalf("AppendText(DecodeText(%q)) = %q", data, enc)
		}
		// A binary frame is a message whatever it holds.
		if b := DecodeBinary(in); b.Type != PacketMessage || !b.Binary || !within(in, b.Data) || len(b.Data) != len(in) {
			t.Fatalf("DecodeBinary = %+v", b)
		}
	})
}

// refPayload decodes a polling body the slow way: split on the separator and
// decode each segment with DecodeText or an ordinary (not in-place) base64
// decode. It returns the packets before the first error and that error.
func refPayload(body []byte, maxPackets int) ([]wantPacket, error) {
	var out []wantPacket
	n := -1
	if maxPackets > 0 {
		n = maxPackets + 1 // a further segment only matters as "one too many"
	}
	for i, seg := range bytes.SplitN(body, []byte{Separator}, n) {
		if maxPackets > 0 && i >= maxPackets {
			return out, ErrTooManyPackets
		}
		if len(seg) > 0 && seg[0] == 'b' {
			if (len(seg)-1)%4 != 0 {
				return out, ErrInvalidBase64
			}
			raw, err := base64.StdEncoding.DecodeString(string(seg[1:]))
			if err != nil {
				return out, ErrInvalidBase64
			}
			out = append(out, wantPacket{PacketMessage, true, string(raw)})
			continue
		}
		p, err := DecodeText(seg)
		if err != nil {
			return out, err
		}
		out = append(out, wantPacket{p.Type, false, string(p.Data)})
	}
	return out, nil
}

func FuzzPayloadReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte, maxPackets int) {
		buf := bytes.Clone(body)
		r := NewPayloadReader(buf, maxPackets)
		var got []wantPacket
		var err error
		calls := bytes.Count(body, []byte{Separator}) + 2
		for i := 0; ; i++ {
			if i > calls {
				t.Fatalf("reader did not finish after %d calls", i)
			}
			p, ok, e := r.Next()
			if e != nil {
				if ok {
					t.Fatal("ok with an error")
				}
				err = e
				break
			}
			if !ok {
				break
			}
			if !within(buf, p.Data) {
				t.Fatalf("packet data %q is not borrowed from the body", p.Data)
			}
			if p.Type > PacketNoop || (p.Binary && p.Type != PacketMessage) {
				t.Fatalf("packet %+v", p)
			}
			got = append(got, wantPacket{p.Type, p.Binary, string(p.Data)})
		}
		if maxPackets > 0 && len(got) > maxPackets {
			t.Fatalf("%d packets with a cap of %d", len(got), maxPackets)
		}
		want, wantErr := refPayload(body, maxPackets)
		if err != wantErr || !equalPackets(got, want) {
			t.Fatalf("reader: %+v, %v\nreference: %+v, %v", got, err, want, wantErr)
		}
		if err != nil {
			return
		}
		// Re-encode and decode again: the same packets.
		var enc []byte
		for i, p := range got {
			enc = AppendPayloadPacket(enc, i == 0, p.typ, p.binary, []byte(p.data))
		}
		r.Reset(enc, 0)
		again, err := readAll(t, &r, len(got)+2)
		if err != nil || !equalPackets(again, got) {
			t.Fatalf("re-encoded %q: %+v, %v; want %+v", enc, again, err, got)
		}
	})
}

// headLimits maps fuzzer-chosen limits to parser settings that stay cheap.
func headLimits(maxBytes uint32, maxHeaders uint16) HeadParser {
	return HeadParser{MaxHeaderBytes: int32(maxBytes % (1<<20 + 1)), MaxHeaders: int32(maxHeaders % 5001)}
}

func FuzzHeadParser(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, split uint32, maxBytes uint32, maxHeaders uint16) {
		cfg := headLimits(maxBytes, maxHeaders)
		effBytes, effHeaders := int(cfg.MaxHeaderBytes), int(cfg.MaxHeaders)
		if effBytes <= 0 {
			effBytes = 16 << 10
		}
		if effHeaders <= 0 {
			effHeaders = 100
		}
		// Walk the pipelined heads in data, one parser as a server would use it.
		for off, heads := 0, 0; off <= len(data) && heads < 64; heads++ {
			buf := data[off:]
			want := oneShot(cfg, buf)
			if want.done && want.err != nil {
				t.Fatal("done with an error")
			}
			if !want.done && want.err == nil && len(buf) > effBytes {
				t.Fatalf("%d bytes without a head or an error (cap %d)", len(buf), effBytes)
			}

			// Byte at a time without Reset; big inputs (the hostile seeds are
			// up to 70 KB) arrive in ~1000 steps to keep executions fast.
			step := 1 + len(buf)/1024
			got := growingStep(cfg, buf, step)
			if got.done != want.done || got.err != want.err || got.req != want.req {
				t.Fatalf("head at %d: %d bytes at a time %+v\none shot %+v", off, step, got, want)
			}

			// Two calls split at a fuzzer-chosen offset.
			k := int(split % uint32(len(buf)+1))
			p := cfg
			var r Request
			done, err := p.Parse(buf[:k], &r)
			if done || err != nil {
				// Finished within the prefix: it must be where growing finished.
				if (step == 1 && got.at > k) || done != got.done || err != got.err || (done && describe(&r) != got.req) {
					t.Fatalf("prefix %d finished with %v, %v; growing finished at %d with %+v", k, done, err, got.at, got)
				}
			} else {
				done, err = p.Parse(buf, &r)
				res := parseResult{at: len(buf), done: done, err: err}
				if done {
					res.req = describe(&r)
				}
				if res != want {
					t.Fatalf("split at %d: %+v\none shot %+v", k, res, want)
				}
			}

			if !want.done {
				return
			}
			p = cfg
			p.Parse(buf, &r)
			if r.HeadLen < 2 || r.HeadLen > len(buf) || r.HeadLen > effBytes || got.at < r.HeadLen || (step == 1 && got.at != r.HeadLen) {
				t.Fatalf("HeadLen %d, input %d, cap %d, growing finished at %d", r.HeadLen, len(buf), effBytes, got.at)
			}
			if err := requestWithin(buf[:r.HeadLen], &r); err != nil {
				t.Fatal(err)
			}
			checkRequest(t, &r, effHeaders)
			off += r.HeadLen
		}
	})
}

// checkRequest asserts what every successfully parsed head guarantees.
func checkRequest(t *testing.T, r *Request, maxHeaders int) {
	t.Helper()
	if len(r.Headers) > maxHeaders {
		t.Fatalf("%d headers, cap %d", len(r.Headers), maxHeaders)
	}
	if len(r.Method) == 0 || len(r.Target) == 0 || (r.Minor != 0 && r.Minor != 1) {
		t.Fatalf("request line %s", describe(r))
	}
	for _, c := range r.Method {
		if !isTokenChar(c) {
			t.Fatalf("method %q", r.Method)
		}
	}
	for _, c := range r.Target {
		if c <= ' ' || c == 0x7f {
			t.Fatalf("target %q", r.Target)
		}
	}
	if q := bytes.IndexByte(r.Target, '?'); q >= 0 {
		if string(r.Path) != string(r.Target[:q]) || string(r.RawQuery) != string(r.Target[q+1:]) {
			t.Fatalf("path/query split of %q: %q %q", r.Target, r.Path, r.RawQuery)
		}
	} else if string(r.Path) != string(r.Target) || len(r.RawQuery) != 0 {
		t.Fatalf("path/query of %q: %q %q", r.Target, r.Path, r.RawQuery)
	}
	for _, h := range r.Headers {
		if len(h.Name) == 0 {
			t.Fatal("empty header name")
		}
		for _, c := range h.Name {
			if !isTokenChar(c) {
				t.Fatalf("header name %q", h.Name)
			}
		}
		for _, c := range h.Value {
			if (c < 0x20 && c != '\t') || c == 0x7f {
				t.Fatalf("header value %q", h.Value)
			}
		}
		if v := h.Value; len(v) > 0 && (v[0] == ' ' || v[0] == '\t' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
			t.Fatalf("header value %q is not trimmed", v)
		}
	}
	// The handshake helpers take the key straight from the peer.
	if acc := AppendAcceptKey(nil, r.WSKey); len(acc) != 28 {
		t.Fatalf("accept key %q for %q", acc, r.WSKey)
	}
	if ValidWebSocketKey(r.WSKey) && len(r.WSKey) != 24 {
		t.Fatalf("valid key %q", r.WSKey)
	}
	if r.ContentLength < -1 || (r.Chunked && r.ContentLength >= 0) {
		t.Fatalf("framing: cl=%d chunked=%v", r.ContentLength, r.Chunked)
	}
	if r.Upgrade && (r.UpgradeHeader == nil || !bytes.Contains(bytes.ToLower(r.UpgradeHeader), []byte("websocket"))) {
		t.Fatalf("Upgrade with Upgrade: %q", r.UpgradeHeader)
	}
	// The picked fields hold the last field of their name (Header returns the first).
	var last []byte
	for _, h := range r.Headers {
		if equalFold(h.Name, "host") {
			last = h.Value
		}
	}
	if string(last) != string(r.Host) || (last == nil) != (r.Host == nil) {
		t.Fatalf("Host %q, last host field %q", r.Host, last)
	}
}

func FuzzFrameHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, maxPayload int64, fragmented bool) {
		h, n, err := ParseFrameHeader(data, maxPayload)
		switch {
		case err != nil:
			if n != 0 {
				t.Fatalf("n=%d with error %v", n, err)
			}
			if err == ErrFrameTooLarge && !(maxPayload > 0 && h.Length > maxPayload) {
				t.Fatalf("ErrFrameTooLarge for length %d, max %d", h.Length, maxPayload)
			}
			if err != ErrFrameTooLarge && err != ErrLengthMSB {
				t.Fatalf("unexpected error %v", err)
			}
		case n == 0:
			if len(data) >= MaxFrameHeaderSize {
				t.Fatalf("no header in %d bytes", len(data))
			}
		default:
			if n > len(data) || n > MaxFrameHeaderSize || n < 2 || h.Length < 0 {
				t.Fatalf("n=%d len=%d header %+v", n, len(data), h)
			}
			if maxPayload > 0 && h.Length > maxPayload {
				t.Fatalf("length %d over max %d accepted", h.Length, maxPayload)
			}
			// gobwas reads the same header from the same bytes.
			ref, rerr := ws.ReadHeader(bytes.NewReader(data))
			if rerr != nil || ref != h {
				t.Fatalf("ws.ReadHeader = %+v, %v; ParseFrameHeader = %+v", ref, rerr, h)
			}
			// ws.WriteHeader of the header (minimal length encoding) parses back.
			var w bytes.Buffer
			if werr := ws.WriteHeader(&w, h); werr != nil {
				t.Fatal(werr)
			}
			if h2, n2, err2 := ParseFrameHeader(w.Bytes(), maxPayload); err2 != nil || n2 != w.Len() || h2 != h || n2 > n {
				t.Fatalf("re-encoded % x: %+v, %d, %v", w.Bytes(), h2, n2, err2)
			}
			if cerr := CheckClientHeader(h, fragmented); cerr == nil {
				if !h.Masked || h.Rsv != 0 || h.OpCode.IsReserved() ||
					(h.OpCode.IsControl() && (!h.Fin || h.Length > 125)) ||
					(h.OpCode == ws.OpContinuation) != (fragmented && !h.OpCode.IsControl()) {
					t.Fatalf("CheckClientHeader accepted %+v (fragmented=%v)", h, fragmented)
				}
			}
		}

		// Byte at a time: nothing until the header is complete, then the
		// same result exactly at its last byte (or the same error).
		for k := 0; k <= len(data); k++ {
			hk, nk, errk := ParseFrameHeader(data[:k], maxPayload)
			if nk == 0 && errk == nil {
				continue
			}
			if errk != err || nk != n || (n > 0 && (hk != h || k != n)) {
				t.Fatalf("prefix %d: %+v, %d, %v; whole: %+v, %d, %v", k, hk, nk, errk, h, n, err)
			}
			break
		}
		// Split at every offset into the header and the rest.
		if n > 0 {
			for k := 0; k < n; k++ {
				if _, nk, errk := ParseFrameHeader(data[:k], maxPayload); nk != 0 || errk != nil {
					t.Fatalf("prefix %d of a %d-byte header: n=%d err=%v", k, n, nk, errk)
				}
			}
		}

		// The server-side encoder round-trips through the decoder.
		op := ws.OpCode(0)
		length := 0
		if len(data) > 0 {
			op = ws.OpCode(data[0] & 0x0f)
		}
		if len(data) > 2 {
			length = int(data[1]) << (data[2] % 17)
		}
		enc := AppendFrameHeader(nil, op, length)
		eh, en, eerr := ParseFrameHeader(enc, 0)
		if eerr != nil || en != len(enc) || en != FrameHeaderLen(length) || !eh.Fin || eh.Masked || eh.OpCode != op || eh.Length != int64(length) {
			t.Fatalf("AppendFrameHeader(%v, %d) = % x parses as %+v, %d, %v", op, length, enc, eh, en, eerr)
		}
	})
}

func FuzzParseClosePayload(f *testing.F) {
	f.Fuzz(func(t *testing.T, p []byte) {
		code, err := ParseClosePayload(p)
		if len(p) == 0 {
			if err != nil || code != ws.StatusNoStatusRcvd {
				t.Fatalf("empty: %v, %v", code, err)
			}
			return
		}
		if len(p) == 1 {
			if err != ErrBadCloseFrame {
				t.Fatalf("1 byte: %v, %v", code, err)
			}
			return
		}
		c, reason := ws.ParseCloseFrameData(p)
		ref := ws.CheckCloseFrameData(c, reason)
		if ref == nil && c >= 5000 { // undefined by RFC 6455 §7.4.2; Node's ws refuses them too
			ref = ErrBadCloseFrame
		}
		if (ref == nil) != (err == nil) {
			t.Fatalf("ParseClosePayload(% x) = %v, %v; ws.CheckCloseFrameData = %v", p, code, err, ref)
		}
		if err != nil {
			if err != ErrBadCloseFrame {
				t.Fatalf("error %v", err)
			}
			return
		}
		if code != c || !utf8.ValidString(reason) {
			t.Fatalf("code %v, want %v", code, c)
		}

		// Encoder: our own close frame for this code and reason is exact,
		// bounded, and parses back to the same code and a prefix of the reason.
		dirty := bytes.Repeat([]byte{0xCC}, 200)
		frame := AppendCloseFrame(dirty[:0], code, reason)
		h, n, herr := ParseFrameHeader(frame, 125)
		if herr != nil || n == 0 || int(h.Length) != len(frame)-n || h.OpCode != ws.OpClose || !h.Fin || h.Masked {
			t.Fatalf("close frame % x: %+v, %d, %v", frame, h, n, herr)
		}
		body := frame[n:]
		got, perr := ParseClosePayload(body)
		if perr != nil || got != code {
			t.Fatalf("own close frame % x: %v, %v", body, got, perr)
		}
		cut := string(body[2:])
		if len(cut) > 123 || !strings.HasPrefix(reason, cut) || (len(reason) <= 123 && cut != reason) || (len(reason) > 123 && len(cut) < 120) {
			t.Fatalf("reason %q cut to %q", reason, cut)
		}
	})
}

// --- Socket.IO packets and the JSON scanner --------------------------------

// jsonDepth is the deepest nesting of brackets outside strings: the
// reference for MaxJSONDepth on input encoding/json accepts.
func jsonDepth(b []byte) int {
	depth, max, inStr := 0, 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '[' || c == '{':
			depth++
			max = maxInt(max, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return max
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// refValidJSON is the slow reference for the scanner: encoding/json, which
// checks syntax byte-wise as we do (it accepts invalid UTF-8 in strings too),
// plus our nesting cap.
func refValidJSON(b []byte) error {
	if !json.Valid(b) {
		return ErrInvalidJSON
	}
	if jsonDepth(b) > MaxJSONDepth {
		return ErrJSONTooDeep
	}
	return nil
}

// refPlaceholders walks validated JSON the slow way and checks what DecodeSIO
// promises about binary packets: every object of exactly two members, one of
// which is `"_placeholder":true` (raw key), is a placeholder whose num is an
// integer below attachments and not used before.
func refPlaceholders(v []byte, attachments int, seen map[int]bool) error {
	switch Kind(v) {
	case JSONArray:
		var err error
		ArrayElements(v, func(_ int, e []byte) bool { err = refPlaceholders(e, attachments, seen); return err == nil })
		return err
	case JSONObject:
		members, ph := 0, false
		ObjectMembers(v, func(k, val []byte) bool {
			members++
			ph = ph || (string(k) == "_placeholder" && string(val) == "true")
			return true
		})
		if members == 2 && ph {
			n, ok := PlaceholderNum(v)
			// n < 256: the scanner's duplicate bitset (a documented cap).
			if !ok || n >= attachments || n >= 256 || seen[n] {
				return ErrSIOAttachments
			}
			seen[n] = true
			return nil
		}
		var err error
		ObjectMembers(v, func(_, val []byte) bool { err = refPlaceholders(val, attachments, seen); return err == nil })
		return err
	}
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// refDecodeSIO decodes a Socket.IO packet the slow way (strings, strconv,
// encoding/json), following PROTOCOL.md §2.3 and our documented caps: at most
// 6 digits of attachment count, 16 of ack id, 1024 bytes of namespace,
// MaxJSONDepth. It returns the set of acceptable errors: when the JSON is
// invalid or too deep in a binary packet, a bad placeholder may be found
// first, so either error is right.
func refDecodeSIO(b []byte, max int) (w sioWant, errs []error) {
	if max <= 0 {
		max = DefaultMaxAttachments
	}
	w = sioWant{nsp: "/", id: -1}
	if len(b) == 0 || b[0] < '0' || b[0] > '6' {
		return w, []error{ErrSIOType}
	}
	w.typ = SIOType(b[0] - '0')
	rest := string(b[1:])
	binary := w.typ == SIOBinaryEvent || w.typ == SIOBinaryAck
	if binary {
		j := 0
		for j < len(rest) && isDigit(rest[j]) {
			j++
		}
		switch {
		case j > 6:
			return w, []error{ErrSIOTooManyAttach}
		case j == 0 || j == len(rest) || rest[j] != '-':
			return w, []error{ErrSIOAttachments}
		}
		n, _ := strconv.Atoi(rest[:j])
		if n > max {
			return w, []error{ErrSIOTooManyAttach}
		}
		if n == 0 { // socket.io-parser 4.2.7: "Illegal attachments"
			return w, []error{ErrSIOAttachments}
		}
		w.att, rest = n, rest[j+1:]
	}
	if strings.HasPrefix(rest, "/") {
		nsp, after, found := strings.Cut(rest, ",")
		if len(nsp) > 1024 {
			return w, []error{ErrSIONamespaceTooBig}
		}
		w.nsp, rest = nsp, after
		if !found {
			rest = ""
		}
	}
	j := 0
	for j < len(rest) && isDigit(rest[j]) {
		j++
	}
	if j > 16 {
		return w, []error{ErrSIOAckID}
	}
	if j > 0 {
		id, _ := strconv.ParseInt(rest[:j], 10, 64)
		if id > MaxAckID {
			return w, []error{ErrSIOAckID}
		}
		w.id, rest = id, rest[j:]
	}
	w.data = rest
	if rest == "" {
		if w.typ == SIOConnect || w.typ == SIODisconnect {
			return w, nil
		}
		return w, []error{ErrSIOPayload}
	}
	if w.typ == SIODisconnect {
		return w, []error{ErrSIOPayload}
	}
	if refValidJSON([]byte(rest)) != nil {
		if binary {
			return w, []error{ErrSIOPayload, ErrSIOAttachments}
		}
		return w, []error{ErrSIOPayload}
	}
	if binary {
		if err := refPlaceholders([]byte(strings.TrimSpace(rest)), w.att, map[int]bool{}); err != nil {
			return w, []error{err}
		}
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(rest))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		panic(err) // valid JSON
	}
	ok := false
	switch w.typ {
	case SIOConnect:
		_, ok = v.(map[string]any)
	case SIOConnectError:
		_, isObj := v.(map[string]any)
		_, isStr := v.(string)
		ok = isObj || isStr
	case SIOAck, SIOBinaryAck:
		_, ok = v.([]any)
	case SIOEvent, SIOBinaryEvent:
		if a, isArr := v.([]any); isArr && len(a) > 0 {
			switch name := a[0].(type) {
			case json.Number:
				ok = true
			case string:
				// JSON.parse decodes escapes and replaces invalid UTF-8
				// (in the transport) before the comparison.
				if IsReservedEvent([]byte(name)) {
					return w, []error{ErrSIOReservedEvent}
				}
				ok = true
			}
		}
	}
	if !ok {
		return w, []error{ErrSIOPayload}
	}
	return w, nil
}

// FuzzDecodeSIO: no panic on any input or split of it, the same answer for a
// copy, fields borrowed from the input, agreement with the slow reference,
// and accepted packets re-encode (AppendSIOHeader + Data) to bytes that decode
// to the same fields.
func FuzzDecodeSIO(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, split uint32, maxAttachments int) {
		in := bytes.Clone(data)
		p, err := DecodeSIO(in, maxAttachments)
		if !bytes.Equal(in, data) {
			t.Fatal("DecodeSIO modified its input")
		}
		p2, err2 := DecodeSIO(bytes.Clone(data), maxAttachments)
		if err != err2 || !sameSIO(p, p2) {
			t.Fatalf("copy decodes differently: %+v, %v vs %+v, %v", p, err, p2, err2)
		}

		// Split at a fuzzer-chosen offset: each part decodes on its own
		// without panicking and borrows only from itself.
		k := int(split % uint32(len(in)+1))
		for _, part := range [][]byte{in[:k:k], in[k:]} {
			pp, perr := DecodeSIO(part, maxAttachments)
			if perr == nil && (!within(part, pp.Data) || (!within(part, pp.Nsp) && !bytes.Equal(pp.Nsp, rootNsp))) {
				t.Fatalf("part %q: fields not borrowed: %+v", part, pp)
			}
		}

		want, wantErrs := refDecodeSIO(data, maxAttachments)
		if err != nil {
			matched := false
			for _, e := range wantErrs {
				matched = matched || err == e
			}
			if !matched {
				t.Fatalf("DecodeSIO(%q, %d) = %v; reference %v %+v", data, maxAttachments, err, wantErrs, want)
			}
			return
		}
		if wantErrs != nil {
			t.Fatalf("DecodeSIO(%q, %d) accepted %+v; reference %v", data, maxAttachments, p, wantErrs)
		}
		if p.Type != want.typ || p.Attachments != want.att || string(p.Nsp) != want.nsp || p.ID != want.id || string(p.Data) != want.data {
			t.Fatalf("DecodeSIO(%q) = %+v; reference %+v", data, p, want)
		}
		if !within(in, p.Data) || (len(p.Data) > 0 && &p.Data[len(p.Data)-1] != &in[len(in)-1]) {
			t.Fatal("Data is not the borrowed tail of the input")
		}
		if !within(in, p.Nsp) && !bytes.Equal(p.Nsp, rootNsp) {
			t.Fatal("Nsp is neither borrowed nor the root")
		}
		if p.Nsp[0] != '/' || bytes.IndexByte(p.Nsp, ',') >= 0 {
			t.Fatalf("namespace %q", p.Nsp)
		}
		if p.Type == SIOEvent || p.Type == SIOBinaryEvent {
			if _, _, ok := EventName(p.Data); !ok {
				t.Fatalf("accepted event %q has no name", p.Data)
			}
		}

		enc := append(AppendSIOHeader(nil, p.Type, p.Attachments, string(p.Nsp), p.ID), p.Data...)
		q, qerr := DecodeSIO(enc, maxAttachments)
		if qerr != nil || q.Type != p.Type || q.Attachments != p.Attachments || !bytes.Equal(q.Nsp, p.Nsp) || q.ID != p.ID || !bytes.Equal(q.Data, p.Data) {
			t.Fatalf("re-encoded %q: %+v, %v; first decode %+v", enc, q, qerr, p)
		}
	})
}

// FuzzJSONScanner: ValidJSON agrees with encoding/json.Valid (up to our
// nesting cap), and the walkers take valid values apart as encoding/json does.
func FuzzJSONScanner(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		err := scanErr(data)
		ref := refValidJSON(data)
		if (err == nil) != (ref == nil) || (ref == ErrJSONTooDeep && err != ErrJSONTooDeep) {
			t.Fatalf("scanner %v, reference %v (depth %d) for %q", err, ref, jsonDepth(data), data)
		}
		if ValidJSON(data) != (err == nil) {
			t.Fatal("ValidJSON disagrees with the scanner")
		}
		if err != nil {
			if err != ErrInvalidJSON && err != ErrJSONTooDeep {
				t.Fatalf("error %v", err)
			}
			return
		}
		start := firstNonSpace(data)
		end, serr := SkipValue(data, 0)
		if serr != nil || end <= start || firstNonSpace(data[end:]) != len(data)-end {
			t.Fatalf("SkipValue = %d, %v for %q", end, serr, data)
		}
		val := data[start:end]
		var v any
		dec := json.NewDecoder(bytes.NewReader(val))
		dec.UseNumber()
		if derr := dec.Decode(&v); derr != nil {
			t.Fatalf("encoding/json cannot decode %q: %v", val, derr)
		}
		kind := Kind(val)
		switch v := v.(type) {
		case map[string]any:
			if kind != JSONObject {
				t.Fatalf("Kind %d for an object", kind)
			}
			var ref map[string]json.RawMessage
			json.Unmarshal(val, &ref)
			last := map[string]string{}
			if werr := ObjectMembers(val, func(k, e []byte) bool {
				var key string
				if kerr := json.Unmarshal([]byte(`"`+string(k)+`"`), &key); kerr != nil {
					t.Fatalf("raw key %q: %v", k, kerr)
				}
				if !ValidJSON(e) || firstNonSpace(e) != 0 || Kind(e) == JSONInvalid {
					t.Fatalf("member value %q", e)
				}
				last[key] = string(e)
				return true
			}); werr != nil || len(last) != len(ref) {
				t.Fatalf("ObjectMembers: %v, %d members, encoding/json %d", werr, len(last), len(ref))
			}
			for k, e := range ref {
				if last[k] != string(e) {
					t.Fatalf("member %q: %q, encoding/json %q", k, last[k], e)
				}
			}
		case []any:
			if kind != JSONArray {
				t.Fatalf("Kind %d for an array", kind)
			}
			var ref []json.RawMessage
			json.Unmarshal(val, &ref)
			n := 0
			if werr := ArrayElements(val, func(i int, e []byte) bool {
				if i != n || i >= len(ref) || string(e) != string(ref[i]) {
					t.Fatalf("element %d %q, encoding/json %q", i, e, ref)
				}
				n++
				return true
			}); werr != nil || n != len(ref) {
				t.Fatalf("ArrayElements: %v, %d elements, encoding/json %d", werr, n, len(ref))
			}
		case string:
			if kind != JSONString {
				t.Fatalf("Kind %d for a string", kind)
			}
		case json.Number:
			if kind != JSONNumber {
				t.Fatalf("Kind %d for a number", kind)
			}
		case bool:
			if (v && kind != JSONTrue) || (!v && kind != JSONFalse) {
				t.Fatalf("Kind %d for %v", kind, v)
			}
		case nil:
			if kind != JSONNull {
				t.Fatalf("Kind %d for null", kind)
			}
		}
	})
}
