package testenv

import (
	"bufio"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
)

// Mail is one message an SMTPServer received.
type Mail struct {
	From string
	To   []string
	// Data is the message as sent (headers and body, CRLF line ends).
	Data string
}

// Message parses Data.
func (m Mail) Message() (*mail.Message, error) { return mail.ReadMessage(strings.NewReader(m.Data)) }

// SMTPServer is a minimal SMTP server for tests (HELO/EHLO, MAIL, RCPT,
// DATA, RSET, NOOP, QUIT; no TLS, no authentication) that keeps what it
// receives. Mails arrive on C as well.
type SMTPServer struct {
	Addr string
	C    chan Mail

	ln   net.Listener
	mu   sync.Mutex
	all  []Mail
	wg   sync.WaitGroup
	fail bool
}

// StartSMTP listens on a random loopback port until the test ends.
func StartSMTP(t testing.TB) *SMTPServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtp listen: %v", err)
	}
	s := &SMTPServer{Addr: ln.Addr().String(), C: make(chan Mail, 64), ln: ln}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		s.wg.Wait()
	})
	return s
}

// Mails returns every mail received so far.
func (s *SMTPServer) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.all...)
}

// FailData makes the server refuse (451) every message until called with
// false: a mail server that is temporarily down for delivery.
func (s *SMTPServer) FailData(fail bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = fail
}

func (s *SMTPServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.session(c)
		}()
	}
}

func (s *SMTPServer) session(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	reply := func(line string) bool {
		_, err := c.Write([]byte(line + "\r\n"))
		return err == nil
	}
	if !reply("220 testenv SMTP ready") {
		return
	}
	var cur Mail
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(verb, "EHLO"):
			reply("250-testenv\r\n250 8BITMIME")
		case strings.HasPrefix(verb, "HELO"):
			reply("250 testenv")
		case strings.HasPrefix(verb, "MAIL FROM:"):
			cur = Mail{From: addrArg(line[len("MAIL FROM:"):])}
			reply("250 OK")
		case strings.HasPrefix(verb, "RCPT TO:"):
			cur.To = append(cur.To, addrArg(line[len("RCPT TO:"):]))
			reply("250 OK")
		case verb == "DATA":
			if !reply("354 end with <CRLF>.<CRLF>") {
				return
			}
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" || l == ".\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, ".")) // dot-unstuffing
			}
			cur.Data = b.String()
			s.mu.Lock()
			fail := s.fail
			if !fail {
				s.all = append(s.all, cur)
			}
			s.mu.Unlock()
			if fail {
				reply("451 try again later")
				continue
			}
			select {
			case s.C <- cur:
			default:
			}
			reply("250 OK queued")
		case verb == "RSET":
			cur = Mail{}
			reply("250 OK")
		case verb == "NOOP":
			reply("250 OK")
		case verb == "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 command not implemented")
		}
	}
}

func addrArg(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, ' '); i >= 0 { // drop parameters like BODY=8BITMIME
		s = s[:i]
	}
	return strings.Trim(s, "<>")
}
