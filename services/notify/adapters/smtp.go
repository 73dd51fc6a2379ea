package adapters

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Outgoing is a mail ready to go: the queue row with the recipient's address.
type Outgoing struct {
	ID       int64
	UserID   string
	DedupKey string
	To       string
	Name     string
	Subject  string
	Body     string
}

// Transport delivers mails.
type Transport interface {
	// Name is stored with each sent mail ("smtp", "dev").
	Name() string
	// Send delivers mails in order and returns one result per mail: nil when delivered,
	// a *PermanentError when the server refused it for good, any other error to retry.
	Send(ctx context.Context, mails []Outgoing) []error
}

// PermanentError is a mail the server refused for good (a 5xx reply to the recipient or the
// content): retrying cannot help, so the mail is marked failed, not retried forever.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// DefaultSMTPFrom is the From address when SMTPConfig.From is empty.
const DefaultSMTPFrom = "Moa <no-reply@moa.localhost>"

// SMTPConfig configures the SMTP transport.
type SMTPConfig struct {
	Addr     string // host:port
	From     string // "Name <addr>" or addr
	User     string // PLAIN auth when set
	Password string
	// TLS is "none", "starttls" or "tls" (implicit). Empty: none for a loopback server,
	// starttls otherwise.
	TLS     string
	Timeout time.Duration // per command (default 30s)
}

// SMTP sends mails to an SMTP server, one connection per batch.
type SMTP struct {
	cfg  SMTPConfig
	from *mail.Address
}

// NewSMTP checks cfg and returns the transport.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("notify: SMTP_ADDR %q is not host:port: %w", cfg.Addr, err)
	}
	if cfg.From == "" {
		cfg.From = DefaultSMTPFrom
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("notify: SMTP_FROM %q: %w", cfg.From, err)
	}
	if cfg.TLS == "" {
		cfg.TLS = "starttls"
		if host, _, _ := net.SplitHostPort(cfg.Addr); host == "localhost" || net.ParseIP(host).IsLoopback() {
			cfg.TLS = "none"
		}
	}
	switch cfg.TLS {
	case "none", "starttls", "tls":
	default:
		return nil, fmt.Errorf("notify: SMTP_TLS %q is not none, starttls or tls", cfg.TLS)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &SMTP{cfg: cfg, from: from}, nil
}

// Name implements Transport.
func (s *SMTP) Name() string { return "smtp" }

// Send implements Transport.
func (s *SMTP) Send(ctx context.Context, mails []Outgoing) []error {
	errs := make([]error, len(mails))
	c, err := s.dial(ctx)
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	defer c.Close()
	for i, m := range mails {
		msg, err := Message(s.from, m, time.Now())
		if err != nil { // nothing was said to the server: the connection is fine
			errs[i] = &PermanentError{Err: err}
			continue
		}
		if err := s.send(c, m.To, msg); err != nil {
			errs[i] = err
			var se *smtp.SMTPError
			if !errors.As(err, &se) { // the connection is in an unknown state: retry the rest later
				for j := i + 1; j < len(mails); j++ {
					errs[j] = err
				}
				return errs
			}
			if c.Reset() != nil {
				for j := i + 1; j < len(mails); j++ {
					errs[j] = err
				}
				return errs
			}
		}
	}
	_ = c.Quit()
	return errs
}

func (s *SMTP) dial(ctx context.Context) (*smtp.Client, error) {
	d := net.Dialer{Timeout: s.cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtp dial: %w", err)
	}
	host, _, _ := net.SplitHostPort(s.cfg.Addr)
	var c *smtp.Client
	switch s.cfg.TLS {
	case "tls":
		c = smtp.NewClient(tls.Client(conn, &tls.Config{ServerName: host}))
	case "starttls":
		if c, err = smtp.NewClientStartTLS(conn, &tls.Config{ServerName: host}); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("smtp starttls: %w", err)
		}
	default:
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout = s.cfg.Timeout
	c.SubmissionTimeout = 2 * s.cfg.Timeout
	if s.cfg.User != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.cfg.User, s.cfg.Password)); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("smtp auth: %w", err)
		}
	}
	return c, nil
}

// send sends one mail. A 5xx to the sender address is a configuration problem (retried);
// a 5xx to the recipient or the content is the mail's own (permanent).
func (s *SMTP) send(c *smtp.Client, to string, msg []byte) error {
	if err := c.Mail(s.from.Address, nil); err != nil {
		return fmt.Errorf("smtp MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to, nil); err != nil {
		return permanentIf5xx(fmt.Errorf("smtp RCPT TO: %w", err))
	}
	w, err := c.Data()
	if err != nil {
		return permanentIf5xx(fmt.Errorf("smtp DATA: %w", err))
	}
	if _, err := w.Write(msg); err != nil {
		_ = w.Close()
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return permanentIf5xx(fmt.Errorf("smtp DATA: %w", err))
	}
	return nil
}

func permanentIf5xx(err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 {
		return &PermanentError{Err: err}
	}
	return err
}

// Message renders m as an RFC 5322 message: UTF-8 plain text, quoted-printable. Its
// Message-ID is derived from (event, recipient), so the rare re-send after a crash between the
// server's acceptance and the queue's update carries the same id and can be recognised.
func Message(from *mail.Address, m Outgoing, now time.Time) ([]byte, error) {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("recipient %q: %w", m.To, err)
	}
	to.Name = m.Name
	sum := sha256.Sum256([]byte(m.DedupKey + "\x00" + m.UserID))
	domain := "moa.localhost"
	if at := strings.LastIndexByte(from.Address, '@'); at >= 0 {
		domain = from.Address[at+1:]
	}
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", now.UTC().Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(sum[:16])+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}

// DevTransport is the dev mailbox: a mail is delivered by being marked sent in the queue, where
// notify.v1.dev_mailbox lists it.
type DevTransport struct{}

// Name implements Transport.
func (DevTransport) Name() string { return "dev" }

// Send implements Transport.
func (DevTransport) Send(_ context.Context, mails []Outgoing) []error {
	return make([]error, len(mails))
}
