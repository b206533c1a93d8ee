package main

// The wire format shared with the host (src/aasee/guest/protocol.py, which documents it):
// every frame is an 8-byte header (magic "AE", protocol version, frame kind, big-endian
// payload length) followed by the payload. The constants must match protocol.py; a host
// test compares them.

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

const (
	protocolVersion = 3
	headerSize      = 8
	maxPayload      = 1 << 20
	dataChunk       = 256 * 1024
	maxGetBytes     = 1 << 30

	kindJSON   = 1
	kindData   = 2
	kindTrace  = 3
	kindOutput = 4
	kindFile   = 5

	streamStdout = 1
	streamStderr = 2
)

// frameStart is what every valid frame of this protocol version begins with.
var frameStart = []byte{'A', 'E', protocolVersion}

func encodeFrame(kind byte, payload []byte) []byte {
	if len(payload) > maxPayload {
		panic(fmt.Sprintf("frame payload of %d bytes exceeds %d", len(payload), maxPayload))
	}
	frame := make([]byte, headerSize+len(payload))
	copy(frame, frameStart)
	frame[3] = kind
	binary.BigEndian.PutUint32(frame[4:], uint32(len(payload)))
	copy(frame[headerSize:], payload)
	return frame
}

// fileFrame carries bytes of a file the host asked for, tagged with the request id.
func fileFrame(requestID uint32, data []byte) []byte {
	payload := make([]byte, 4+len(data))
	binary.BigEndian.PutUint32(payload, requestID)
	copy(payload[4:], data)
	return encodeFrame(kindFile, payload)
}

// headerProblem says what is wrong with the frame header at the start of buf, if anything.
func headerProblem(buf []byte) string {
	switch {
	case buf[0] != 'A' || buf[1] != 'E':
		return fmt.Sprintf("bad frame magic %q", buf[:2])
	case buf[2] != protocolVersion:
		return fmt.Sprintf("unsupported protocol version %d (want %d)", buf[2], protocolVersion)
	case buf[3] < kindJSON || buf[3] > kindFile:
		return fmt.Sprintf("unknown frame kind %d", buf[3])
	}
	if length := binary.BigEndian.Uint32(buf[4:]); length > maxPayload {
		return fmt.Sprintf("frame of %d bytes exceeds limit %d", length, maxPayload)
	}
	return ""
}

// frameReader cuts a byte stream into frames. It never buffers more than one header plus
// maxPayload bytes. After a bad header it skips to the next place a frame of this version
// could start, reporting the problem once per run of garbage: a broken host write costs
// the frames it damaged, never the agent.
type frameReader struct {
	buf       []byte
	resyncing bool
}

func (r *frameReader) reset() {
	r.buf = nil
	r.resyncing = false
}

func (r *frameReader) feed(data []byte, frame func(kind byte, payload []byte), problem func(string)) {
	r.buf = append(r.buf, data...)
	for len(r.buf) >= headerSize {
		if why := headerProblem(r.buf); why != "" {
			if !r.resyncing {
				problem(why)
				r.resyncing = true
			}
			next := bytes.Index(r.buf[1:], frameStart)
			if next < 0 {
				// Keep a tail that may be the beginning of the next frame's header.
				keep := len(frameStart) - 1
				r.buf = append([]byte(nil), r.buf[len(r.buf)-keep:]...)
				return
			}
			r.buf = r.buf[1+next:]
			continue
		}
		end := headerSize + int(binary.BigEndian.Uint32(r.buf[4:]))
		if len(r.buf) < end {
			break
		}
		kind := r.buf[3]
		payload := append([]byte(nil), r.buf[headerSize:end]...)
		r.buf = r.buf[end:]
		r.resyncing = false
		frame(kind, payload)
	}
	if len(r.buf) == 0 {
		r.buf = nil // let the consumed frames' memory go
	}
}
