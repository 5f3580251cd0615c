package bench

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// maxReply bounds how much of an answer is kept (the rest is read and
// dropped); an acknowledgement is 7 bytes.
const maxReply = 64 << 10

// conn is one keep-alive HTTP/1.1 connection speaking just enough of the
// protocol for the benchmark: write a prepared request, read the status,
// the headers that frame the body (Content-Length, chunked, Connection:
// close) and the body. It costs a fraction of net/http's client (no
// per-request allocation of a Request, no read and write goroutines), so
// on a machine shared with the server the client takes as little as
// possible of the CPU it measures.
type conn struct {
	addr    string
	tls     *tls.Config // nil for http
	timeout time.Duration
	c       net.Conn
	br      *bufio.Reader
	body    []byte
}

func (c *conn) dial() error {
	d := net.Dialer{Timeout: c.timeout}
	nc, err := d.Dial("tcp", c.addr)
	if err != nil {
		return err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if c.tls != nil {
		t := tls.Client(nc, c.tls)
		t.SetDeadline(time.Now().Add(c.timeout))
		if err := t.Handshake(); err != nil {
			nc.Close()
			return err
		}
		nc = t
	}
	c.c = nc
	if c.br == nil {
		c.br = bufio.NewReaderSize(nc, 16<<10)
	} else {
		c.br.Reset(nc)
	}
	return nil
}

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

// do sends req and returns the status and body (valid until the next call).
// On a transport or protocol error the connection is closed; the next call
// dials again.
func (c *conn) do(req []byte) (int, []byte, error) {
	if c.c == nil {
		if err := c.dial(); err != nil {
			return 0, nil, err
		}
	}
	c.c.SetDeadline(time.Now().Add(c.timeout))
	status, keep, err := c.roundTrip(req)
	if err != nil || !keep {
		c.close()
	}
	return status, c.body, err
}

func (c *conn) roundTrip(req []byte) (status int, keep bool, err error) {
	if _, err := c.c.Write(req); err != nil {
		return 0, false, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	keep = line[7] == '1'
	length, chunked := -1, false
	for {
		h, err := c.br.ReadSlice('\n')
		if err != nil {
			return status, false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return status, false, fmt.Errorf("bad header line %q", h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return status, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			}
		}
	}
	c.body = c.body[:0]
	switch {
	case chunked:
		err = c.readChunked()
	case length >= 0:
		err = c.readN(length)
	default: // the body runs to the end of the connection
		keep = false
		err = c.readN(-1)
	}
	return status, keep && err == nil, err
}

// readN appends n bytes of body (all until EOF when n < 0), keeping at most
// maxReply of them.
func (c *conn) readN(n int) error {
	for n != 0 {
		k := c.br.Size()
		if n > 0 {
			k = min(n, k)
		}
		b, err := c.br.Peek(k)
		if room := maxReply - len(c.body); room > 0 {
			c.body = append(c.body, b[:min(len(b), room)]...)
		}
		c.br.Discard(len(b))
		if n > 0 {
			n -= len(b)
		}
		if err == io.EOF && n < 0 {
			return nil
		}
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil && err != bufio.ErrBufferFull {
			return err
		}
	}
	return nil
}

func (c *conn) readChunked() error {
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if size == 0 {
			return c.skipTrailer()
		}
		if err := c.readN(int(size)); err != nil {
			return err
		}
		crlf, err := c.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(bytes.TrimRight(crlf, "\r\n")) != 0 {
			return errors.New("chunk not followed by CRLF")
		}
	}
}

func (c *conn) skipTrailer() error {
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return nil
		}
	}
}
