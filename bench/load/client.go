package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/chatwarden/chatwarden/samples"
)

// The load generator shares the machine's cores with the target, so it must
// cost as little as possible per request: a target's figures then measure
// the target rather than the generator. Each connection posts prebuilt
// requests over one keep-alive HTTP/1.1 connection and reads the answer with
// a minimal parser; bodies are one template with the chat number patched in.

// bodyTemplate is the incoming_chat sample for chat number 0, with the
// offsets of the 8 digits that make the chat and thread ids distinct.
type bodyTemplate struct {
	body    []byte
	offsets []int
}

func newBodyTemplate() bodyTemplate {
	b := samples.LiveChat("incoming_chat", secret, "LOAD00000000", "T00000000")
	var offs []int
	for _, marker := range []string{"LOAD00000000", "T00000000"} {
		for i := 0; ; {
			k := bytes.Index(b[i:], []byte(marker))
			if k < 0 {
				break
			}
			offs = append(offs, i+k+len(marker)-8)
			i += k + len(marker)
		}
	}
	return bodyTemplate{body: b, offsets: offs}
}

// put writes chat number n (mod 10^8) into dst, a copy of the template.
func (t bodyTemplate) put(dst []byte, n int64) {
	var digits [8]byte
	for i := 7; i >= 0; i-- {
		digits[i] = byte('0' + n%10)
		n /= 10
	}
	for _, o := range t.offsets {
		copy(dst[o:o+8], digits[:])
	}
}

var template = newBodyTemplate()

// body is the incoming_chat sample for chat number i.
func body(i int64) []byte {
	b := append([]byte(nil), template.body...)
	template.put(b, i)
	return b
}

// poster posts to one URL over one keep-alive connection, reconnecting when
// the target closes it.
type poster struct {
	addr    string
	req     []byte // header then body; the body starts at bodyAt
	bodyAt  int
	r       *bufio.Reader
	timeout time.Duration
	source  *net.TCPAddr // local address to connect from; nil: any

	mu      sync.Mutex // guards conn, which abort uses from another goroutine
	conn    net.Conn
	aborted bool
}

func newPoster(target string) (*poster, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		u.RequestURI(), u.Host, len(template.body))
	req := append([]byte(head), template.body...)
	return &poster{addr: u.Host, req: req, bodyAt: len(head), timeout: 30 * time.Second}, nil
}

// post sends the request for chat number n and returns the answer's status.
func (p *poster) post(n int64) (int, error) {
	template.put(p.req[p.bodyAt:], n)
	for attempt := 0; ; attempt++ {
		p.mu.Lock()
		if p.aborted {
			p.mu.Unlock()
			return 0, errAborted
		}
		if p.conn == nil {
			d := net.Dialer{}
			if p.source != nil {
				d.LocalAddr = p.source
			}
			c, err := d.Dial("tcp", p.addr)
			if err != nil {
				p.mu.Unlock()
				return 0, err
			}
			p.conn, p.r = c, bufio.NewReaderSize(c, 4096)
		}
		_ = p.conn.SetDeadline(time.Now().Add(p.timeout))
		p.mu.Unlock()
		status, keep, err := p.roundTrip()
		if err != nil || !keep {
			p.close()
		}
		// A keep-alive connection the target closed while idle fails
		// before any answer: send again once on a new one.
		if err != nil && status == 0 && attempt == 0 && errors.Is(err, errStale) {
			continue
		}
		return status, err
	}
}

var (
	errStale   = errors.New("connection closed before an answer")
	errAborted = errors.New("load stopped")
)

func (p *poster) roundTrip() (status int, keep bool, err error) {
	if _, err := p.conn.Write(p.req); err != nil {
		return 0, false, fmt.Errorf("%w: %v", errStale, err)
	}
	line, err := p.r.ReadSlice('\n')
	if err != nil {
		return 0, false, fmt.Errorf("%w: %v", errStale, err)
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	length, keep := 0, true
	for {
		line, err = p.r.ReadSlice('\n')
		if err != nil {
			return status, false, err
		}
		h := bytes.TrimRight(line, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			length, _ = strconv.Atoi(string(value))
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			keep = false
		}
	}
	if _, err := p.r.Discard(length); err != nil {
		return status, false, err
	}
	return status, keep, nil
}

func (p *poster) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		p.conn.Close()
		p.conn, p.r = nil, nil
	}
}

// abort makes a pending post fail at once and later ones fail without
// sending; it may be called from another goroutine.
func (p *poster) abort() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.aborted = true
	if p.conn != nil {
		_ = p.conn.SetDeadline(time.Now())
	}
}
