package tasktypes

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/taskmill/taskmill"
)

// ErrNoSMTPServer is what send_email fails with, without retry, when no
// SMTP server is configured.
var ErrNoSMTPServer = errors.New("no SMTP server is configured: start taskmill with --smtp-host (or TASKMILL_SMTP_HOST)")

type emailPayload struct {
	To      []string `json:"to"`
	Cc      []string `json:"cc,omitempty"`
	Bcc     []string `json:"bcc,omitempty"`
	ReplyTo string   `json:"reply_to,omitempty"`
	Subject string   `json:"subject"`
	Body    string   `json:"body"`
	HTML    string   `json:"html,omitempty"`
	cfg     Config

	to, cc, bcc []*mail.Address
	replyTo     *mail.Address
}

func parseAddresses(field string, list []string) ([]*mail.Address, error) {
	out := make([]*mail.Address, len(list))
	for i, s := range list {
		f := field + "[" + strconv.Itoa(i) + "]"
		if strings.ContainsAny(s, "\r\n") || len(s) > 320 {
			return nil, taskmill.Invalid(f, "format", "must be one email address of at most 320 characters")
		}
		a, err := mail.ParseAddress(s)
		if err != nil {
			return nil, taskmill.Invalid(f, "format", "is not an email address (%q): %v", s, err)
		}
		out[i] = a
	}
	return out, nil
}

func (p *emailPayload) check() error {
	var err error
	if len(p.To) == 0 {
		return taskmill.Invalid("payload.to", "required", "give at least one recipient")
	}
	if n := len(p.To) + len(p.Cc) + len(p.Bcc); n > p.cfg.MaxEmailRecipients {
		return taskmill.Invalid("payload.to", "count", "to, cc and bcc hold %d recipients; the limit is %d", n, p.cfg.MaxEmailRecipients)
	}
	if p.to, err = parseAddresses("payload.to", p.To); err != nil {
		return err
	}
	if p.cc, err = parseAddresses("payload.cc", p.Cc); err != nil {
		return err
	}
	if p.bcc, err = parseAddresses("payload.bcc", p.Bcc); err != nil {
		return err
	}
	if p.ReplyTo != "" {
		list, err := parseAddresses("payload.reply_to", []string{p.ReplyTo})
		if err != nil {
			return taskmill.Invalid("payload.reply_to", "format", "is not an email address: %q", p.ReplyTo)
		}
		p.replyTo = list[0]
	}
	switch {
	case strings.TrimSpace(p.Subject) == "":
		return taskmill.Invalid("payload.subject", "required", "give a subject")
	case len(p.Subject) > 900 || strings.ContainsAny(p.Subject, "\r\n") || !utf8.ValidString(p.Subject):
		return taskmill.Invalid("payload.subject", "format", "must be one line of UTF-8, at most 900 bytes")
	case p.Body == "" && p.HTML == "":
		return taskmill.Invalid("payload.body", "required", "give body (plain text), html, or both")
	case len(p.Body) > p.cfg.MaxTextBytes || !utf8.ValidString(p.Body):
		return taskmill.Invalid("payload.body", "length", "must be UTF-8 of at most %d bytes", p.cfg.MaxTextBytes)
	case len(p.HTML) > p.cfg.MaxTextBytes || !utf8.ValidString(p.HTML):
		return taskmill.Invalid("payload.html", "length", "must be UTF-8 of at most %d bytes", p.cfg.MaxTextBytes)
	}
	return nil
}

// EmailResult is the result of a send_email task. MessageID is derived
// from the task's id, so a message sent twice (a retry after a lost
// acknowledgement) carries the same id and can be recognised.
type EmailResult struct {
	MessageID  string   `json:"message_id"`
	From       string   `json:"from"`
	To         []string `json:"to"`
	Cc         []string `json:"cc,omitempty"`
	Recipients int      `json:"recipients"`
	Bytes      int      `json:"bytes"`
	Server     string   `json:"server"`
	TLS        bool     `json:"tls"`
}

// mailer delivers messages to the configured SMTP server.
type mailer struct {
	cfg     Config
	from    *mail.Address // cfg.SMTPFrom, parsed
	roots   *x509.CertPool
	heloFor string
}

// newMailer fails on a setting no message could be sent with, so that
// Register refuses it rather than every send_email task failing.
func newMailer(cfg Config) (*mailer, error) {
	from, err := mail.ParseAddress(cfg.SMTPFrom)
	if err != nil {
		return nil, fmt.Errorf("SMTPFrom %q: not an email address: %w", cfg.SMTPFrom, err)
	}
	m := &mailer{cfg: cfg, from: from, roots: cfg.SMTPRootCAs, heloFor: "localhost"}
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		m.heloFor = h
	}
	if cfg.SMTPCAFile != "" && m.roots == nil {
		pem, err := os.ReadFile(cfg.SMTPCAFile)
		if err != nil {
			return nil, fmt.Errorf("SMTPCAFile: %w", err)
		}
		if m.roots, err = x509.SystemCertPool(); err != nil || m.roots == nil {
			m.roots = x509.NewCertPool()
		}
		if !m.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("SMTPCAFile %s: no PEM certificate in it", cfg.SMTPCAFile)
		}
	}
	return m, nil
}

func sendEmailType(cfg Config, m *mailer) taskmill.TaskType {
	server := "not configured"
	if cfg.SMTPHost != "" {
		server = net.JoinHostPort(cfg.SMTPHost, strconv.Itoa(cfg.SMTPPort))
	}
	return define(taskmill.TaskType{
		Name: "send_email",
		Description: "Sends an email through the configured SMTP server (" + server + "), with STARTTLS and " +
			"authentication; plain text, HTML or both. Fails without retry when no server is configured.",
		Schema: schema(`{"type":"object","required":["to","subject"],"additionalProperties":false,"properties":{
			"to":{"type":"array","minItems":1,"maxItems":` + strconv.Itoa(cfg.MaxEmailRecipients) + `,"items":{"type":"string","format":"email","maxLength":320},"default":["someone@example.com"],"description":"recipients"},
			"cc":{"type":"array","items":{"type":"string","format":"email","maxLength":320},"description":"copied recipients"},
			"bcc":{"type":"array","items":{"type":"string","format":"email","maxLength":320},"description":"blind-copied recipients, in no header"},
			"reply_to":{"type":"string","format":"email","maxLength":320,"description":"address replies go to"},
			"subject":{"type":"string","minLength":1,"maxLength":900,"default":"Hello from taskmill","description":"one line"},
			"body":{"type":"string","maxLength":` + strconv.Itoa(cfg.MaxTextBytes) + `,"default":"This message was sent by a taskmill task.","description":"plain-text body"},
			"html":{"type":"string","maxLength":` + strconv.Itoa(cfg.MaxTextBytes) + `,"description":"HTML body; with body too, both are sent as alternatives"}},
			"anyOf":[{"required":["body"]},{"required":["html"]}]}`),
		Timeout: 2 * cfg.SMTPTimeout,
	}, func(p *emailPayload) { p.cfg = cfg },
		func(ctx context.Context, t *taskmill.Task, p *emailPayload) (any, error) {
			if cfg.SMTPHost == "" {
				return nil, taskmill.SkipRetry(ErrNoSMTPServer)
			}
			return m.send(ctx, t, p)
		})
}

// messageID is <task-id@domain of the sender>.
func messageID(taskID, from string) string {
	domain := "taskmill.localhost"
	if at := strings.LastIndexByte(from, '@'); at >= 0 && at < len(from)-1 {
		domain = from[at+1:]
	}
	return "<" + taskID + "@" + strings.Trim(domain, "<> ") + ">"
}

func joinAddresses(list []*mail.Address) string {
	s := make([]string, len(list))
	for i, a := range list {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// buildMessage renders the message as RFC 5322 text with CRLF line ends:
// headers encoded as RFC 2047 words where not ASCII, bodies quoted-printable.
func buildMessage(p *emailPayload, from *mail.Address, id string, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", from.String())
	h("To", joinAddresses(p.to))
	if len(p.cc) > 0 {
		h("Cc", joinAddresses(p.cc))
	}
	if p.replyTo != nil {
		h("Reply-To", p.replyTo.String())
	}
	h("Subject", mime.QEncoding.Encode("utf-8", p.Subject))
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", id)
	h("MIME-Version", "1.0")
	part := func(w *bytes.Buffer, text string) error {
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(strings.ReplaceAll(text, "\r\n", "\n"))); err != nil {
			return err
		}
		return qp.Close()
	}
	if p.HTML == "" || p.Body == "" {
		ctype, text := "text/plain; charset=utf-8", p.Body
		if p.Body == "" {
			ctype, text = "text/html; charset=utf-8", p.HTML
		}
		h("Content-Type", ctype)
		h("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := part(&b, text); err != nil {
			return nil, err
		}
		b.WriteString("\r\n") // the last line ends, as RFC 5322 lines do
		return b.Bytes(), nil
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	h("Content-Type", "multipart/alternative; boundary="+mw.Boundary())
	b.WriteString("\r\n")
	for _, alt := range []struct{ ctype, text string }{{"text/plain; charset=utf-8", p.Body}, {"text/html; charset=utf-8", p.HTML}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {alt.ctype}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return nil, err
		}
		var pb bytes.Buffer
		if err := part(&pb, alt.text); err != nil {
			return nil, err
		}
		if _, err := w.Write(pb.Bytes()); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	b.Write(body.Bytes())
	return b.Bytes(), nil
}

// send delivers one message. A 5xx answer from the server fails without
// retry (the server refused for good); a 4xx, or a network error, fails
// the attempt so the queue tries again later.
func (m *mailer) send(ctx context.Context, t *taskmill.Task, p *emailPayload) (*EmailResult, error) {
	from := m.from
	id := messageID(t.ID(), from.Address)
	msg, err := buildMessage(p, from, id, time.Now())
	if err != nil {
		return nil, fmt.Errorf("build the message: %w", err)
	}
	addr := net.JoinHostPort(m.cfg.SMTPHost, strconv.Itoa(m.cfg.SMTPPort))
	ctx, cancel := context.WithTimeout(ctx, m.cfg.SMTPTimeout)
	defer cancel()
	tlsConf := &tls.Config{ServerName: m.cfg.SMTPHost, RootCAs: m.roots, MinVersion: tls.VersionTLS12}

	var conn net.Conn
	nd := &net.Dialer{Timeout: m.cfg.SMTPTimeout}
	if m.cfg.SMTPTLS == "tls" {
		conn, err = (&tls.Dialer{NetDialer: nd, Config: tlsConf}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = nd.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to SMTP server %s: %w", addr, err)
	}
	defer conn.Close()
	// net/smtp takes no context: a deadline on the connection ends any
	// read or write when ctx ends.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	step := func(what string, err error) error {
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("SMTP %s at %s: %w", what, addr, context.Cause(ctx))
		}
		var te *textproto.Error
		if errors.As(err, &te) && te.Code >= 500 {
			return taskmill.SkipRetry(fmt.Errorf("SMTP %s at %s refused: %w", what, addr, err))
		}
		return fmt.Errorf("SMTP %s at %s: %w", what, addr, err)
	}
	c, err := smtp.NewClient(conn, m.cfg.SMTPHost)
	if err != nil {
		return nil, step("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(m.heloFor); err != nil {
		return nil, step("EHLO", err)
	}
	_ = t.ReportProgress(ctx, 20, "connected to "+addr)
	secure := m.cfg.SMTPTLS == "tls"
	if m.cfg.SMTPTLS == "starttls" {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return nil, taskmill.SkipRetry(fmt.Errorf("SMTP server %s does not offer STARTTLS; configure --smtp-tls none to send in plain text", addr))
		}
		if err := c.StartTLS(tlsConf); err != nil {
			return nil, step("STARTTLS", err)
		}
		secure = true
	}
	if m.cfg.SMTPUsername != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return nil, taskmill.SkipRetry(fmt.Errorf("SMTP server %s does not offer AUTH, but a username is configured", addr))
		}
		if err := c.Auth(smtp.PlainAuth("", m.cfg.SMTPUsername, m.cfg.SMTPPassword, m.cfg.SMTPHost)); err != nil {
			return nil, step("AUTH", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return nil, step("MAIL FROM", err)
	}
	var all []*mail.Address
	all = append(append(append(all, p.to...), p.cc...), p.bcc...)
	for _, a := range all {
		if err := c.Rcpt(a.Address); err != nil {
			return nil, step("RCPT TO "+a.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return nil, step("DATA", err)
	}
	_ = t.ReportProgress(ctx, 60, "sending "+strconv.Itoa(len(msg))+" bytes")
	if _, err := w.Write(msg); err != nil {
		return nil, step("DATA", err)
	}
	if err := w.Close(); err != nil {
		return nil, step("end of DATA", err)
	}
	// The message is accepted once DATA ends well; a failed QUIT changes
	// nothing, and must not make the queue send it again.
	_ = c.Quit()
	_ = t.ReportProgress(ctx, 100, "accepted by "+addr)
	res := &EmailResult{MessageID: id, From: from.String(), Recipients: len(all), Bytes: len(msg), Server: addr, TLS: secure}
	for _, a := range p.to {
		res.To = append(res.To, a.Address)
	}
	for _, a := range p.cc {
		res.Cc = append(res.Cc, a.Address)
	}
	return res, nil
}
