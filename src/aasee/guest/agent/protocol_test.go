package main

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

type collected struct {
	kinds    []byte
	payloads [][]byte
	problems []string
}

func feedAll(r *frameReader, c *collected, data []byte, piece int) {
	for start := 0; start < len(data); start += piece {
		end := start + piece
		if end > len(data) {
			end = len(data)
		}
		r.feed(data[start:end], func(kind byte, payload []byte) {
			c.kinds = append(c.kinds, kind)
			c.payloads = append(c.payloads, payload)
		}, func(problem string) { c.problems = append(c.problems, problem) })
	}
}

func TestFramesSurviveArbitraryPieces(t *testing.T) {
	stream := append(encodeFrame(kindJSON, []byte(`{"op":"ping","id":1}`)),
		encodeFrame(kindTrace, bytes.Repeat([]byte("line\n"), 1000))...)
	for _, piece := range []int{1, 7, 8, 4096, len(stream)} {
		var r frameReader
		var c collected
		feedAll(&r, &c, stream, piece)
		if !bytes.Equal(c.kinds, []byte{kindJSON, kindTrace}) || len(c.problems) != 0 {
			t.Fatalf("piece %d: kinds %v problems %v", piece, c.kinds, c.problems)
		}
		if string(c.payloads[0]) != `{"op":"ping","id":1}` || len(c.payloads[1]) != 5000 {
			t.Fatalf("piece %d: payloads differ", piece)
		}
	}
}

func header(magic string, version, kind byte, length uint32) []byte {
	h := append([]byte(magic), version, kind, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(h[4:], length)
	return h
}

func TestBadHeadersAreReportedOnceAndSkipped(t *testing.T) {
	ping := encodeFrame(kindJSON, []byte(`{"op":"ping","id":2}`))
	cases := map[string][]byte{
		"bad frame magic":              append(header("XX", protocolVersion, kindJSON, 0), bytes.Repeat([]byte{0}, 40)...),
		"unsupported protocol version": header("AE", protocolVersion-1, kindJSON, 2),
		"unknown frame kind":           header("AE", protocolVersion, 99, 0),
		"exceeds limit":                header("AE", protocolVersion, kindJSON, maxPayload+1),
	}
	for want, garbage := range cases {
		for _, piece := range []int{1, 3, 1000} {
			var r frameReader
			var c collected
			feedAll(&r, &c, append(append([]byte{}, garbage...), ping...), piece)
			if len(c.problems) != 1 || !strings.Contains(c.problems[0], want) {
				t.Fatalf("%s (piece %d): problems %v", want, piece, c.problems)
			}
			if len(c.payloads) != 1 || string(c.payloads[0]) != `{"op":"ping","id":2}` {
				t.Fatalf("%s (piece %d): no resync to the next frame: %q", want, piece, c.payloads)
			}
		}
	}
}

func TestResetDropsAPartialFrame(t *testing.T) {
	var r frameReader
	var c collected
	frame := encodeFrame(kindJSON, []byte(`{"op":"sync"}`))
	feedAll(&r, &c, frame[:10], 10)
	r.reset() // the host went away mid-frame
	feedAll(&r, &c, frame, 5)
	if len(c.payloads) != 1 || len(c.problems) != 0 {
		t.Fatalf("frames %q problems %v", c.payloads, c.problems)
	}
}

func TestFileFramesCarryTheRequestID(t *testing.T) {
	frame := fileFrame(70000, []byte("\x7fELF"))
	want := append(header("AE", protocolVersion, kindFile, 8), 0, 1, 0x11, 0x70, 0x7f, 'E', 'L', 'F')
	if !bytes.Equal(frame, want) {
		t.Fatalf("got %x want %x", frame, want)
	}
}
