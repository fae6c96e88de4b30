// Package tasktypestest runs local stand-ins for the outside services the
// built-in task types talk to, for tests: a real SMTP server (STARTTLS,
// AUTH PLAIN) that keeps what it receives, and HTTP servers that answer in
// the formats of Open-Meteo and Frankfurter. They listen on 127.0.0.1
// and stop when the test ends.
package tasktypestest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is one message an SMTPServer accepted.
type Message struct {
	From     string   // the MAIL FROM address
	To       []string // the RCPT TO addresses
	Data     []byte   // the message as sent, CRLF line ends, dots unstuffed
	TLS      bool     // whether the session was encrypted when DATA came
	AuthUser string   // who authenticated, "" if nobody
}

// SMTPServer is a minimal, real SMTP server (RFC 5321) on 127.0.0.1:
// EHLO, STARTTLS with a certificate of its own, AUTH PLAIN, MAIL, RCPT,
// DATA, RSET, NOOP, QUIT. It refuses MAIL before AUTH when a password is
// set, and refuses AUTH before STARTTLS.
type SMTPServer struct {
	Addr     string // host:port it listens on
	Host     string // "127.0.0.1"
	Port     int
	User     string // the one account, when Password is set
	Password string

	ln      net.Listener
	tlsConf *tls.Config
	certPEM []byte

	mu       sync.Mutex
	messages []Message
	arrived  chan struct{}
	wg       sync.WaitGroup
}

// StartSMTP starts a server that requires STARTTLS and AUTH PLAIN as
// user/password (no authentication when password is "").
func StartSMTP(t testing.TB, user, password string) *SMTPServer {
	t.Helper()
	certPEM, tlsCert, err := selfSignedCert()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &SMTPServer{Addr: ln.Addr().String(), Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port,
		User: user, Password: password, ln: ln, certPEM: certPEM, arrived: make(chan struct{}, 100),
		tlsConf: &tls.Config{Certificates: []tls.Certificate{tlsCert}, MinVersion: tls.VersionTLS12}}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

// CertPEM is the server's self-signed certificate, for the client's roots.
func (s *SMTPServer) CertPEM() []byte { return s.certPEM }

// RootCAs is a pool holding only the server's certificate.
func (s *SMTPServer) RootCAs() *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(s.certPEM)
	return p
}

// Messages returns what the server has accepted so far.
func (s *SMTPServer) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// WaitMessage waits up to timeout for the n-th message (from 1).
func (s *SMTPServer) WaitMessage(n int, timeout time.Duration) (Message, bool) {
	deadline := time.After(timeout)
	for {
		if msgs := s.Messages(); len(msgs) >= n {
			return msgs[n-1], true
		}
		select {
		case <-s.arrived:
		case <-deadline:
			return Message{}, false
		}
	}
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
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(time.Minute))
			s.session(c)
		}()
	}
}

// session speaks SMTP on one connection until QUIT or an error.
func (s *SMTPServer) session(c net.Conn) {
	tp := textproto.NewConn(c)
	secure, user := false, ""
	var from string
	var to []string
	reply := func(code int, msg string) error { return tp.PrintfLine("%d %s", code, msg) }
	if reply(220, "taskmill test SMTP ready") != nil {
		return
	}
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			from, to = "", nil
			lines := []string{"250-taskmill test SMTP", "250-8BITMIME", "250-SIZE 10485760"}
			if !secure {
				lines = append(lines, "250-STARTTLS")
			}
			if secure && s.Password != "" {
				lines = append(lines, "250-AUTH PLAIN")
			}
			lines = append(lines, "250 HELP")
			for _, l := range lines {
				if tp.PrintfLine("%s", l) != nil {
					return
				}
			}
		case "STARTTLS":
			if secure {
				_ = reply(503, "already encrypted")
				continue
			}
			if reply(220, "go ahead") != nil {
				return
			}
			tc := tls.Server(c, s.tlsConf)
			if tc.Handshake() != nil {
				return
			}
			c, secure = tc, true
			tp = textproto.NewConn(c)
		case "AUTH":
			mech, initial, _ := strings.Cut(arg, " ")
			switch {
			case !secure:
				_ = reply(538, "encryption required for AUTH")
			case !strings.EqualFold(mech, "PLAIN"):
				_ = reply(504, "only PLAIN")
			default:
				if initial == "" {
					if reply(334, "") != nil {
						return
					}
					if initial, err = tp.ReadLine(); err != nil {
						return
					}
				}
				raw, err := base64.StdEncoding.DecodeString(initial)
				parts := strings.Split(string(raw), "\x00")
				if err != nil || len(parts) != 3 || parts[1] != s.User || parts[2] != s.Password {
					_ = reply(535, "authentication failed")
					continue
				}
				user = parts[1]
				_ = reply(235, "authenticated")
			}
		case "MAIL":
			addr, ok := pathArg(arg, "FROM:")
			switch {
			case !ok:
				_ = reply(501, "syntax: MAIL FROM:<address>")
			case s.Password != "" && user == "":
				_ = reply(530, "authentication required")
			default:
				from, to = addr, nil
				_ = reply(250, "sender ok")
			}
		case "RCPT":
			addr, ok := pathArg(arg, "TO:")
			switch {
			case !ok:
				_ = reply(501, "syntax: RCPT TO:<address>")
			case from == "":
				_ = reply(503, "MAIL first")
			case strings.HasSuffix(addr, "@rejected.test"):
				_ = reply(550, "no such mailbox")
			default:
				to = append(to, addr)
				_ = reply(250, "recipient ok")
			}
		case "DATA":
			if len(to) == 0 {
				_ = reply(503, "RCPT first")
				continue
			}
			if reply(354, "end with <CRLF>.<CRLF>") != nil {
				return
			}
			data, err := io.ReadAll(tp.DotReader())
			if err != nil {
				return
			}
			// DotReader turns CRLF into LF; the message on the wire had CRLF.
			msg := Message{From: from, To: to, Data: []byte(strings.ReplaceAll(string(data), "\n", "\r\n")), TLS: secure, AuthUser: user}
			s.mu.Lock()
			s.messages = append(s.messages, msg)
			s.mu.Unlock()
			select {
			case s.arrived <- struct{}{}:
			default:
			}
			from, to = "", nil
			_ = reply(250, "queued as "+strconv.Itoa(len(s.Messages())))
		case "RSET":
			from, to = "", nil
			_ = reply(250, "ok")
		case "NOOP":
			_ = reply(250, "ok")
		case "QUIT":
			_ = reply(221, "bye")
			return
		default:
			_ = reply(502, "command not implemented")
		}
	}
}

// pathArg reads "FROM:<a@b>" (with optional parameters after it).
func pathArg(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", false
	}
	return rest[1:end], true
}

// selfSignedCert makes a certificate for 127.0.0.1 and localhost, valid
// for a day.
func selfSignedCert() ([]byte, tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "taskmill test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, tls.Certificate{}, errors.Join(errors.New("self-signed certificate"), err)
	}
	return certPEM, cert, nil
}
