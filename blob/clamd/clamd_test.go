package clamd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// eicar is the EICAR anti-malware test file: harmless, and found by every
// scanner as Eicar-Test-Signature (as clamd names it).
const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// fakeClamd is a clamd speaking INSTREAM on loopback. mode chooses its
// answer: "scan" (FOUND for EICAR, else OK), "error" (an ERROR reply),
// "hangup" (close after the first chunk, with no reply), "silent" (read
// everything, never answer), "limit:N" (reply "INSTREAM size limit
// exceeded. ERROR" and close once more than N bytes came).
type fakeClamd struct {
	ln   net.Listener
	mode string

	mu       sync.Mutex
	received [][]byte // each scan's bytes, reassembled
	chunks   []int    // chunk count of each scan
	commands []string
}

func newFakeClamd(t *testing.T, mode string) *fakeClamd {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeClamd{ln: ln, mode: mode}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(conn)
		}
	}()
	return f
}

func (f *fakeClamd) addr() string { return f.ln.Addr().String() }

func (f *fakeClamd) serve(conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	cmd := make([]byte, len("zINSTREAM\x00"))
	if _, err := io.ReadFull(conn, cmd); err != nil {
		return
	}
	var data bytes.Buffer
	chunks := 0
	limit := -1
	if n, ok := strings.CutPrefix(f.mode, "limit:"); ok {
		limit = len(n) // a few bytes: the tests use "limit:xxxx" for 4
	}
	for {
		var size [4]byte
		if _, err := io.ReadFull(conn, size[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(size[:])
		if n == 0 {
			break
		}
		chunks++
		if _, err := io.CopyN(&data, conn, int64(n)); err != nil {
			return
		}
		if f.mode == "hangup" {
			return
		}
		if limit >= 0 && data.Len() > limit {
			conn.Write([]byte("INSTREAM size limit exceeded. ERROR\x00"))
			return
		}
	}
	f.mu.Lock()
	f.commands = append(f.commands, string(cmd))
	f.received = append(f.received, data.Bytes())
	f.chunks = append(f.chunks, chunks)
	f.mu.Unlock()
	switch {
	case f.mode == "silent":
		io.Copy(io.Discard, conn)
	case f.mode == "error":
		conn.Write([]byte("Can't allocate memory ERROR\x00"))
	case bytes.Contains(data.Bytes(), []byte(eicar)):
		conn.Write([]byte("stream: Eicar-Test-Signature FOUND\x00"))
	default:
		conn.Write([]byte("stream: OK\x00"))
	}
}

func newScanner(t *testing.T, cfg Config) *Scanner {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A clean stream, sent in several chunks, whole and in order: OK.
func TestScanClean(t *testing.T) {
	t.Parallel()
	f := newFakeClamd(t, "scan")
	s := newScanner(t, Config{Addr: f.addr(), ChunkSize: 1000})
	data := bytes.Repeat([]byte("not a virus, just a video "), 200) // 5200 bytes: 6 chunks
	v, err := s.Scan(context.Background(), bytes.NewReader(data))
	if err != nil || v.Infected || v.Signature != "" {
		t.Fatalf("Scan(clean) = %+v, %v; want clean", v, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.received) != 1 || !bytes.Equal(f.received[0], data) || f.chunks[0] != 6 || f.commands[0] != "zINSTREAM\x00" {
		t.Errorf("clamd got %d scans (%d chunks, command %q); want the 5200 bytes in 6 chunks after zINSTREAM\\0", len(f.received), f.chunks, f.commands)
	}
}

// EICAR, even amid other bytes: infected, with clamd's signature name.
func TestScanFound(t *testing.T) {
	t.Parallel()
	f := newFakeClamd(t, "scan")
	s := newScanner(t, Config{Addr: f.addr()})
	v, err := s.Scan(context.Background(), strings.NewReader("header "+eicar+" trailer"))
	if err != nil || !v.Infected || v.Signature != "Eicar-Test-Signature" {
		t.Fatalf("Scan(EICAR) = %+v, %v; want infected with Eicar-Test-Signature", v, err)
	}
}

// Every way of not getting a verdict is an error, never a clean verdict.
func TestScanErrors(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("x"), 300<<10) // more than the socket buffers take unread
	tests := []struct {
		name, mode string
		cfg        Config
		data       []byte
		inErr      string
	}{
		{"error reply", "error", Config{}, []byte("video"), "clamd refused the scan: Can't allocate memory ERROR"},
		// Whether the close reaches us while sending or while waiting
		// depends on the socket buffers.
		{"closed mid-stream", "hangup", Config{ChunkSize: 1024}, big, "connection lost while sending|no verdict"},
		{"size limit", "limit:xxxx", Config{ChunkSize: 1024}, big, "INSTREAM size limit exceeded. ERROR"},
		{"no reply in time", "silent", Config{Timeout: 300 * time.Millisecond}, []byte("video"), "no verdict"},
		{"over MaxBytes", "scan", Config{MaxBytes: 10}, []byte("more than ten bytes"), "longer than the scan limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeClamd(t, tt.mode)
			tt.cfg.Addr = f.addr()
			s := newScanner(t, tt.cfg)
			v, err := s.Scan(context.Background(), bytes.NewReader(tt.data))
			if err == nil || v.Infected {
				t.Fatalf("Scan = %+v, %v; want an error and no verdict", v, err)
			}
			said := false
			for _, want := range strings.Split(tt.inErr, "|") {
				said = said || strings.Contains(err.Error(), want)
			}
			if !said || !strings.Contains(err.Error(), f.addr()) {
				t.Errorf("Scan error = %q, want it to name %s and say %q", err, f.addr(), tt.inErr)
			}
		})
	}
	t.Run("nobody listening", func(t *testing.T) {
		t.Parallel()
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		_, err := newScanner(t, Config{Addr: addr}).Scan(context.Background(), strings.NewReader("x"))
		if err == nil || !strings.Contains(err.Error(), "connect") {
			t.Errorf("Scan with clamd down = %v, want a connect error", err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		t.Parallel()
		f := newFakeClamd(t, "silent")
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := newScanner(t, Config{Addr: f.addr()}).Scan(ctx, strings.NewReader("x"))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Scan canceled mid-wait = %v, want context.Canceled", err)
		}
	})
}

func TestNewConfig(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{
		"127.0.0.1:3310": true, "clamd:3310": true, "unix:/run/clamd.sock": true,
		"": false, "clamd": false, "unix:": false,
	} {
		if _, err := New(Config{Addr: addr}); (err == nil) != ok {
			t.Errorf("New(%q) error = %v, want ok %v", addr, err, ok)
		}
	}
	if _, err := New(Config{Addr: "x:1", Timeout: -1}); err == nil {
		t.Error("New with a negative timeout: no error")
	}
}
