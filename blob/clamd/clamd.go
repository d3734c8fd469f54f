// Package clamd is a blob.Scanner that asks a ClamAV daemon (clamd) over
// its INSTREAM protocol: one connection per scan, the command
// "zINSTREAM\0", the bytes in chunks each preceded by its length (4 bytes,
// big-endian), a zero-length chunk to end, and one reply terminated by
// "\0": "stream: OK", "stream: <signature> FOUND", or "<reason> ERROR".
//
// clamd refuses streams longer than its StreamMaxLength (25 MB by default)
// with "INSTREAM size limit exceeded. ERROR": set it, in clamd.conf, at
// least as high as the largest output vidgate copies (--max-artifact-bytes),
// or every larger output fails its scan and is never served.
package clamd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/vidgate/vidgate/blob"
)

// Defaults.
const (
	DefaultDialTimeout = 5 * time.Second
	DefaultTimeout     = 5 * time.Minute
	DefaultChunkSize   = 64 << 10
	// maxReply caps the reply read: a signature name is short.
	maxReply = 4 << 10
)

// Config configures a Scanner.
type Config struct {
	// Addr is clamd's TCP address, host:port (clamd.conf TCPSocket), or
	// "unix:" and the path of its local socket (LocalSocket).
	Addr string
	// DialTimeout bounds connecting; 0 means DefaultDialTimeout.
	DialTimeout time.Duration
	// Timeout bounds one whole scan — sending the bytes and waiting for the
	// verdict; 0 means DefaultTimeout.
	Timeout time.Duration
	// ChunkSize is the size of each chunk sent; 0 means DefaultChunkSize.
	ChunkSize int
	// MaxBytes caps the bytes one scan sends; a longer stream is an error,
	// not a verdict. 0 means no cap here (clamd's StreamMaxLength applies).
	MaxBytes int64
}

// Scanner is a blob.Scanner backed by clamd. It is safe for concurrent
// use: each scan has its own connection.
type Scanner struct {
	network, addr string
	cfg           Config
}

var _ blob.Scanner = (*Scanner)(nil)

// ErrTooLarge is in the chain of the error of a scan whose stream is longer
// than Config.MaxBytes.
var ErrTooLarge = errors.New("clamd: stream longer than the scan limit")

// New returns a Scanner for cfg, or an error if cfg's address or sizes are
// malformed. It does not connect.
func New(cfg Config) (*Scanner, error) {
	s := &Scanner{network: "tcp", addr: cfg.Addr, cfg: cfg}
	if path, ok := strings.CutPrefix(cfg.Addr, "unix:"); ok {
		if path == "" {
			return nil, errors.New("clamd: unix: address without a socket path")
		}
		s.network, s.addr = "unix", path
	} else if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("clamd: address %q is not host:port or unix:/path", cfg.Addr)
	}
	if cfg.DialTimeout < 0 || cfg.Timeout < 0 || cfg.ChunkSize < 0 || cfg.MaxBytes < 0 {
		return nil, errors.New("clamd: negative setting")
	}
	if s.cfg.DialTimeout == 0 {
		s.cfg.DialTimeout = DefaultDialTimeout
	}
	if s.cfg.Timeout == 0 {
		s.cfg.Timeout = DefaultTimeout
	}
	if s.cfg.ChunkSize == 0 {
		s.cfg.ChunkSize = DefaultChunkSize
	}
	return s, nil
}

// Scan streams r to clamd and returns its verdict. Every failure to get a
// verdict — no connection, a timeout, clamd closing the connection, an
// ERROR reply (such as its size limit) or a reply it cannot parse — is an
// error that names clamd's address and what went wrong.
func (s *Scanner) Scan(ctx context.Context, r io.Reader) (blob.Verdict, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	d := net.Dialer{Timeout: s.cfg.DialTimeout}
	conn, err := d.DialContext(ctx, s.network, s.addr)
	if err != nil {
		return blob.Verdict{}, fmt.Errorf("clamd %s: connect: %w", s.cfg.Addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// A canceled context interrupts a blocked read or write.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	sendErr := s.send(conn, r)
	if errors.Is(sendErr, ErrTooLarge) || isReadErr(sendErr) {
		return blob.Verdict{}, fmt.Errorf("clamd %s: %w", s.cfg.Addr, sendErr)
	}
	// Read the reply even when sending failed: clamd answers, then closes,
	// when it refuses a stream (its size limit) midway.
	reply, readErr := readReply(conn)
	switch {
	case readErr != nil && sendErr != nil:
		return blob.Verdict{}, fmt.Errorf("clamd %s: connection lost while sending: %w", s.cfg.Addr, sendErr)
	case readErr != nil:
		if ctx.Err() != nil {
			readErr = ctx.Err()
		}
		return blob.Verdict{}, fmt.Errorf("clamd %s: no verdict: %w", s.cfg.Addr, readErr)
	}
	v, err := parseReply(reply)
	if err != nil {
		return blob.Verdict{}, fmt.Errorf("clamd %s: %w", s.cfg.Addr, err)
	}
	if sendErr != nil && !v.Infected {
		// A clean verdict on a stream clamd did not get whole means nothing.
		return blob.Verdict{}, fmt.Errorf("clamd %s: connection lost while sending: %w", s.cfg.Addr, sendErr)
	}
	return v, nil
}

// readErr marks an error reading the stream to scan (not the connection).
type readErr struct{ err error }

func (e readErr) Error() string { return "read the stream to scan: " + e.err.Error() }
func (e readErr) Unwrap() error { return e.err }

func isReadErr(err error) bool {
	var re readErr
	return errors.As(err, &re)
}

// send writes the command, r in chunks and the terminating empty chunk.
func (s *Scanner) send(conn net.Conn, r io.Reader) error {
	w := bufio.NewWriterSize(conn, s.cfg.ChunkSize+4)
	if _, err := w.WriteString("zINSTREAM\x00"); err != nil {
		return err
	}
	buf := make([]byte, s.cfg.ChunkSize)
	var sent int64
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			sent += int64(n)
			if s.cfg.MaxBytes > 0 && sent > s.cfg.MaxBytes {
				return fmt.Errorf("%w (%d bytes)", ErrTooLarge, s.cfg.MaxBytes)
			}
			var size [4]byte
			binary.BigEndian.PutUint32(size[:], uint32(n))
			if _, werr := w.Write(size[:]); werr != nil {
				return werr
			}
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return readErr{err}
		}
	}
	if _, err := w.Write([]byte{0, 0, 0, 0}); err != nil {
		return err
	}
	return w.Flush()
}

// readReply reads one "\0"-terminated reply (or, from a clamd that ends it
// by closing the connection, the text before the close).
func readReply(conn net.Conn) (string, error) {
	br := bufio.NewReader(io.LimitReader(conn, maxReply))
	reply, err := br.ReadString(0)
	switch {
	case err == nil:
		return strings.TrimSuffix(reply, "\x00"), nil
	case err == io.EOF && reply != "":
		return reply, nil
	case err == io.EOF:
		return "", io.ErrUnexpectedEOF
	}
	return "", err
}

// parseReply reads "stream: OK", "stream: <signature> FOUND" or
// "<reason> ERROR".
func parseReply(reply string) (blob.Verdict, error) {
	reply = strings.TrimSpace(reply)
	body, _ := strings.CutPrefix(reply, "stream: ")
	switch {
	case body == "OK":
		return blob.Verdict{}, nil
	case strings.HasSuffix(body, " FOUND"):
		sig := strings.TrimSpace(strings.TrimSuffix(body, " FOUND"))
		if sig == "" {
			sig = "unnamed"
		}
		return blob.Verdict{Infected: true, Signature: sig}, nil
	case strings.HasSuffix(reply, "ERROR"):
		return blob.Verdict{}, fmt.Errorf("clamd refused the scan: %s", clip(reply))
	}
	return blob.Verdict{}, fmt.Errorf("unexpected reply %q", clip(reply))
}

func clip(s string) string {
	if len(s) > 200 {
		return strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}
