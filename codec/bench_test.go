package codec

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

var benchMessage = []byte(`4` + `2["chat message",{"user":"alice","text":"hello world, this is a typical chat line","ts":17}]`)

func BenchmarkDecodeTextMessage(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchMessage)))
	for b.Loop() {
		p, err := DecodeText(benchMessage)
		if err != nil || p.Type != PacketMessage {
			b.Fatal(p, err)
		}
	}
}

// benchPayload is a polling POST body of 5 packets, one of them binary.
var benchPayload = []byte(`40{"token":"abc"}` + "\x1e" +
	`420["chat message","hello world"]` + "\x1e" +
	"bAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=" + "\x1e" +
	`421["ack me",{"n":1}]` + "\x1e" +
	"3")

func BenchmarkPayloadReader(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchPayload)))
	buf := make([]byte, len(benchPayload))
	var r PayloadReader
	for b.Loop() {
		copy(buf, benchPayload) // the reader decodes base64 in place
		r.Reset(buf, 16)
		n := 0
		for {
			_, ok, err := r.Next()
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				break
			}
			n++
		}
		if n != 5 {
			b.Fatalf("%d packets", n)
		}
	}
}

func BenchmarkFrameHeader(b *testing.B) {
	var w bytes.Buffer
	ws.WriteHeader(&w, ws.Header{Fin: true, OpCode: ws.OpText, Length: 300, Masked: true, Mask: [4]byte{1, 2, 3, 4}})
	hdr := w.Bytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(hdr)))
	for b.Loop() {
		h, n, err := ParseFrameHeader(hdr, 1e6)
		if err != nil || n != 8 {
			b.Fatal(n, err)
		}
		if err := CheckClientHeader(h, false); err != nil {
			b.Fatal(err)
		}
	}
}

// benchHead is a realistic engine.io polling GET from a browser (~400 bytes).
var benchHead = []byte("GET /socket.io/?EIO=4&transport=polling&t=PZx1a2b&sid=cyqnawj9W8aBsPhKAAAA HTTP/1.1\r\n" +
	"Host: chat.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: */*\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Origin: https://chat.example.com\r\n" +
	"Connection: keep-alive\r\n" +
	"Cookie: io=cyqnawj9W8aBsPhKAAAA\r\n" +
	"Sec-Fetch-Dest: empty\r\n" +
	"\r\n")

func BenchmarkHeadParser(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchHead)))
	var p HeadParser
	var r Request
	p.Parse(benchHead, &r) // grow r.Headers once; a server reuses its Request
	for b.Loop() {
		p.Reset()
		done, err := p.Parse(benchHead, &r)
		if !done || err != nil {
			b.Fatal(done, err)
		}
		if _, ok := QueryValue(r.RawQuery, "sid"); !ok {
			b.Fatal("no sid")
		}
	}
}

func BenchmarkAppendFrame(b *testing.B) {
	for _, size := range []int{100, 4096, 65536} {
		payload := []byte(strings.Repeat("x", size))
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			dst := make([]byte, 0, size+MaxFrameHeaderSize)
			for b.Loop() {
				dst = AppendFrame(dst[:0], ws.OpText, payload)
			}
			if len(dst) != FrameHeaderLen(size)+size {
				b.Fatal(len(dst))
			}
		})
	}
}

func BenchmarkAppendPayload(b *testing.B) {
	type pkt struct {
		typ    PacketType
		binary bool
		data   []byte
	}
	pkts := []pkt{
		{PacketMessage, false, []byte(`0{"sid":"RolNs8fHi3q4eZXbAAAB"}`)},
		{PacketMessage, false, []byte(`20["welcome","hi"]`)},
		{PacketMessage, true, []byte("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10")},
		{PacketPing, false, nil},
		{PacketMessage, false, []byte(`21["news",{"title":"hello world"}]`)},
	}
	size := len(pkts) - 1
	for _, p := range pkts {
		size += PayloadPacketLen(p.binary, p.data)
	}
	b.ReportAllocs()
	b.SetBytes(int64(size))
	dst := make([]byte, 0, size)
	for b.Loop() {
		dst = dst[:0]
		for i, p := range pkts {
			dst = AppendPayloadPacket(dst, i == 0, p.typ, p.binary, p.data)
		}
	}
	if len(dst) != size {
		b.Fatal(len(dst), size)
	}
}

// benchSIOEvent is a text EVENT as socket.io-client sends it (the Engine.IO
// "4" already stripped).
var benchSIOEvent = []byte(`2["chat",{"user":"ann","text":"hello world"}]`)

func BenchmarkDecodeSIOEvent(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchSIOEvent)))
	for b.Loop() {
		p, err := DecodeSIO(benchSIOEvent, 0)
		if err != nil || p.Type != SIOEvent || len(p.Data) != len(benchSIOEvent)-1 {
			b.Fatal(p, err)
		}
	}
}

// benchSIOBinaryEvent announces two attachments, one nested, in a namespace
// and with an ack id: every placeholder is validated.
var benchSIOBinaryEvent = []byte(`52-/upload,3["file",{"name":"a.png","data":{"_placeholder":true,"num":0}},{"_placeholder":true,"num":1}]`)

func BenchmarkDecodeSIOBinaryEvent(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchSIOBinaryEvent)))
	for b.Loop() {
		p, err := DecodeSIO(benchSIOBinaryEvent, 0)
		if err != nil || p.Type != SIOBinaryEvent || p.Attachments != 2 || p.ID != 3 {
			b.Fatal(p, err)
		}
	}
}
