package engine_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"sio/codec"
)

// parserV3Script runs engine.io 6's own parser-v3 (the code Node's server
// uses for protocol 3) on what the Go codec encoded, and encodes the same
// packets for the Go codec to decode.
const parserV3Script = `
const p = require(require("path").join(process.cwd(), "node_modules/engine.io/build/parser-v3/index.js"));
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const packets = input.packets.map((x) => (x.bin !== undefined ? { type: x.type, data: Buffer.from(x.bin, "base64") } : { type: x.type, data: x.data }));
const show = (pk) => (Buffer.isBuffer(pk.data) ? { type: pk.type, bin: pk.data.toString("base64") } : { type: pk.type, data: pk.data === undefined ? "" : pk.data });
const out = { decodedText: [], decodedBin: [] };
p.decodePayload(input.goText, (pk) => { out.decodedText.push(show(pk)); });
p.decodePayload(Buffer.from(input.goBin, "base64"), (pk) => { out.decodedBin.push(show(pk)); });
p.encodePayload(packets, false, (s) => { out.nodeText = s; });
p.encodePayload(packets, true, (b) => { out.nodeBin = Buffer.from(b).toString("base64"); });
process.stdout.write(JSON.stringify(out));
`

type v3Pkt struct {
	Type string  `json:"type"`
	Data *string `json:"data,omitempty"`
	Bin  *string `json:"bin,omitempty"`
}

var v3TypeNames = map[codec.PacketType]string{codec.PacketPing: "ping", codec.PacketPong: "pong", codec.PacketMessage: "message", codec.PacketNoop: "noop"}

func TestEIO3PayloadsAgainstParserV3(t *testing.T) {
	dir := interopClientDir(t)
	type pk struct {
		typ    codec.PacketType
		binary bool
		data   string
	}
	pkts := []pk{
		{codec.PacketMessage, false, `2["e","héllo 😀 𝄞"]`},
		{codec.PacketMessage, true, "\x01\x02\x03\xff"},
		{codec.PacketPong, false, ""},
		{codec.PacketMessage, false, "plain"},
		{codec.PacketMessage, true, string(bytes.Repeat([]byte{7}, 300))},
	}
	var in struct {
		Packets []v3Pkt `json:"packets"`
		GoText  string  `json:"goText"`
		GoBin   string  `json:"goBin"`
	}
	var text, bin []byte
	var want []v3Pkt
	for _, p := range pkts {
		text = codec.AppendPayloadPacketV3(text, p.typ, p.binary, []byte(p.data))
		bin = codec.AppendBinaryPayloadPacketV3(bin, p.typ, p.binary, []byte(p.data))
		v := v3Pkt{Type: v3TypeNames[p.typ]}
		if p.binary {
			s := base64.StdEncoding.EncodeToString([]byte(p.data))
			v.Bin = &s
		} else {
			s := p.data
			v.Data = &s
		}
		want = append(want, v)
	}
	in.Packets, in.GoText, in.GoBin = want, string(text), base64.StdEncoding.EncodeToString(bin)
	stdin, _ := json.Marshal(in)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "-e", parserV3Script)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var out struct {
		DecodedText []v3Pkt `json:"decodedText"`
		DecodedBin  []v3Pkt `json:"decodedBin"`
		NodeText    string  `json:"nodeText"`
		NodeBin     string  `json:"nodeBin"`
	}
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("%s: %v", stdout, err)
	}
	wantJSON, _ := json.Marshal(want)
	for name, got := range map[string][]v3Pkt{"text": out.DecodedText, "binary": out.DecodedBin} {
		if g, _ := json.Marshal(got); string(g) != string(wantJSON) {
			t.Errorf("parser-v3 decoded our %s payload as %s, want %s", name, g, wantJSON)
		}
	}
	// Node's encodings are byte for byte ours, and our reader decodes them.
	if out.NodeText != string(text) {
		t.Errorf("parser-v3 text payload %q, ours %q", out.NodeText, text)
	}
	nodeBin, _ := base64.StdEncoding.DecodeString(out.NodeBin)
	if !bytes.Equal(nodeBin, bin) {
		t.Errorf("parser-v3 binary payload % x, ours % x", nodeBin, bin)
	}
	for _, c := range []struct {
		body   []byte
		binary bool
	}{{[]byte(out.NodeText), false}, {nodeBin, true}} {
		r := codec.NewPayloadReaderV3(c.body, c.binary, 0)
		for i, p := range pkts {
			got, ok, err := r.Next()
			if err != nil || !ok || got.Type != p.typ || got.Binary != p.binary || string(got.Data) != p.data {
				t.Fatalf("binary=%v packet %d: %+v %v %v, want %+v", c.binary, i, got, ok, err, p)
			}
		}
		if _, ok, err := r.Next(); ok || err != nil {
			t.Fatalf("binary=%v: trailing packet or error %v", c.binary, err)
		}
	}
}
