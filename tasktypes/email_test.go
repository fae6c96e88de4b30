package tasktypes_test

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/tasktypes"
	"github.com/taskmill/taskmill/tasktypes/tasktypestest"
)

func smtpConfig(s *tasktypestest.SMTPServer) tasktypes.Config {
	return tasktypes.Config{SMTPHost: s.Host, SMTPPort: s.Port, SMTPUsername: s.User, SMTPPassword: s.Password,
		SMTPRootCAs: s.RootCAs(), SMTPFrom: "Taskmill <noreply@taskmill.test>", SMTPTimeout: 10 * time.Second}
}

func TestSendEmailReceived(t *testing.T) {
	srv := tasktypestest.StartSMTP(t, "mailer", "s3cret")
	mux := testMux(t, smtpConfig(srv))
	var r tasktypes.EmailResult
	mustRun(t, mux, "send_email", map[string]any{
		"to": []string{"Ann Example <ann@example.com>"}, "cc": []string{"bob@example.com"}, "bcc": []string{"carol@example.com"},
		"subject": "Grüße from taskmill", "body": "Hello Ann,\n.a line starting with a dot\nbye",
	}, &r)
	if r.MessageID != "<test@taskmill.test>" || r.Recipients != 3 || !r.TLS || r.To[0] != "ann@example.com" {
		t.Errorf("result = %+v", r)
	}
	got, ok := srv.WaitMessage(1, 5*time.Second)
	if !ok {
		t.Fatal("the SMTP server received nothing")
	}
	if got.From != "noreply@taskmill.test" || strings.Join(got.To, ",") != "ann@example.com,bob@example.com,carol@example.com" ||
		!got.TLS || got.AuthUser != "mailer" {
		t.Errorf("envelope = from %s to %v tls %v user %q", got.From, got.To, got.TLS, got.AuthUser)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(got.Data))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != "Grüße from taskmill" {
		t.Errorf("subject = %q (%v)", subject, err)
	}
	if msg.Header.Get("Message-Id") != r.MessageID || msg.Header.Get("Bcc") != "" ||
		!strings.Contains(msg.Header.Get("To"), "ann@example.com") || msg.Header.Get("Cc") != "<bob@example.com>" {
		t.Errorf("headers = %v", msg.Header)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	if b := strings.ReplaceAll(string(body), "\r\n", "\n"); b != "Hello Ann,\n.a line starting with a dot\nbye\n" {
		t.Errorf("body = %q", b)
	}
}

func TestSendEmailHTMLAlternative(t *testing.T) {
	srv := tasktypestest.StartSMTP(t, "", "")
	cfg := smtpConfig(srv)
	cfg.SMTPUsername, cfg.SMTPPassword = "", ""
	mux := testMux(t, cfg)
	mustRun(t, mux, "send_email", map[string]any{"to": []string{"a@example.com"}, "subject": "Hi",
		"body": "plain words", "html": "<p>rich <b>words</b></p>"}, nil)
	got, ok := srv.WaitMessage(1, 5*time.Second)
	if !ok {
		t.Fatal("nothing received")
	}
	msg, err := mail.ReadMessage(bytes.NewReader(got.Data))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q (%v)", mt, err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var parts []string
	for {
		p, err := mr.NextPart() // decodes quoted-printable itself
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		parts = append(parts, p.Header.Get("Content-Type")+"|"+string(b))
	}
	if len(parts) != 2 || parts[0] != "text/plain; charset=utf-8|plain words" || parts[1] != "text/html; charset=utf-8|<p>rich <b>words</b></p>" {
		t.Errorf("parts = %q", parts)
	}
}

func TestSendEmailFailures(t *testing.T) {
	payload := map[string]any{"to": []string{"a@example.com"}, "subject": "s", "body": "b"}
	// No server configured: a clear error, no retry.
	_, err := runTask(t, testMux(t, tasktypes.Config{}), "send_email", payload, nil)
	if !errors.Is(err, tasktypes.ErrNoSMTPServer) || !errors.Is(err, taskmill.ErrSkipRetry) {
		t.Errorf("unconfigured: %v", err)
	}

	srv := tasktypestest.StartSMTP(t, "mailer", "s3cret")
	cfg := smtpConfig(srv)
	cfg.SMTPPassword = "wrong"
	_, err = runTask(t, testMux(t, cfg), "send_email", payload, nil)
	if !errors.Is(err, taskmill.ErrSkipRetry) || !strings.Contains(err.Error(), "535") {
		t.Errorf("wrong password: %v", err)
	}
	_, err = runTask(t, testMux(t, smtpConfig(srv)), "send_email",
		map[string]any{"to": []string{"x@rejected.test"}, "subject": "s", "body": "b"}, nil)
	if !errors.Is(err, taskmill.ErrSkipRetry) || !strings.Contains(err.Error(), "550") {
		t.Errorf("rejected recipient: %v", err)
	}
	// Without the server's certificate among the roots, STARTTLS fails.
	cfg = smtpConfig(srv)
	cfg.SMTPRootCAs = nil
	_, err = runTask(t, testMux(t, cfg), "send_email", payload, nil)
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("untrusted certificate: %v", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages got through", n)
	}
}

func TestSendEmailRefused(t *testing.T) {
	mux := testMux(t, tasktypes.Config{MaxEmailRecipients: 2, MaxTextBytes: 20})
	checkRefused(t, mux, "send_email", []refusedCase{
		{"no recipients", `{"subject":"s","body":"b"}`, "payload.to"},
		{"bad address", `{"to":["not an address"],"subject":"s","body":"b"}`, "payload.to[0]"},
		{"header injection in address", `{"to":["a@b.c\r\nBcc: x@y.z"],"subject":"s","body":"b"}`, "payload.to[0]"},
		{"bad cc", `{"to":["a@b.c"],"cc":["@@"],"subject":"s","body":"b"}`, "payload.cc[0]"},
		{"too many", `{"to":["a@b.c","d@e.f"],"bcc":["g@h.i"],"subject":"s","body":"b"}`, "payload.to"},
		{"no subject", `{"to":["a@b.c"],"body":"b"}`, "payload.subject"},
		{"subject with a line break", `{"to":["a@b.c"],"subject":"s\nBcc: x@y.z","body":"b"}`, "payload.subject"},
		{"no body", `{"to":["a@b.c"],"subject":"s"}`, "payload.body"},
		{"body too long", `{"to":["a@b.c"],"subject":"s","body":"123456789012345678901"}`, "payload.body"},
		{"from is not a payload field", `{"to":["a@b.c"],"subject":"s","body":"b","from":"ceo@b.c"}`, "payload.from"},
	})
}
