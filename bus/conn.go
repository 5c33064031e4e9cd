package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
)

func (b *Bus) connect(ctx context.Context, url string, opts []nats.Option) (*nats.Conn, error) {
	for attempt := 1; ; attempt++ {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			if attempt > 1 {
				b.logger.Info("connected to NATS", zap.String("url", url), zap.Int("attempts", attempt))
			}
			return nc, nil
		}
		if attempt == 1 || attempt%10 == 0 {
			b.logger.Warn("cannot connect to NATS yet; retrying", zap.String("url", url),
				zap.Int("attempt", attempt), zap.Error(err))
		}
		wait := time.Duration(min(attempt, 5)) * 500 * time.Millisecond
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connecting to NATS at %s (nats.url): %w (last error: %v)", url, ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}

func (b *Bus) connOptions(cfg config.NATS) []nats.Option {
	name := cfg.Name
	if name == "" {
		name = config.DefaultNATSName
	}
	log := b.logger
	return []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if b.closed.Load() {
				return
			}
			b.store.mu.Lock()
			b.store.disconnectedAt, b.store.remindAt = time.Now(), time.Now()
			b.store.mu.Unlock()
			log.Warn("disconnected from NATS; reconnecting in the background (webhooks are answered 503 until then)",
				zap.String("reason", ReasonBrokerUnavailable), zap.Error(err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.store.mu.Lock()
			b.store.disconnectedAt = time.Time{}
			b.store.mu.Unlock()
			log.Info("reconnected to NATS", zap.String("url", nc.ConnectedUrlRedacted()))
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			log.Warn("NATS asynchronous error", zap.Error(err))
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			if b.closed.Load() {
				return
			}
			b.lose(nc.LastError())
		}),
	}
}

// lose records that the connection was closed for good without Close: the
// server dropped it with an error nats.go does not reconnect after (such as
// "maximum control line exceeded"), or reconnecting was given up.
func (b *Bus) lose(cause error) {
	b.lostOnce.Do(func() {
		if cause == nil {
			cause = errors.New("closed without an error")
		}
		b.lostErr = fmt.Errorf("%w: %v", ErrConnectionLost, cause)
		b.logger.Error("the NATS connection is closed for good and will not reconnect by itself; "+
			"a new connection is needed (serve starts the service again)", zap.Error(cause))
		close(b.lost)
	})
}

// Lost is closed when the connection is closed for good other than by Close
// (see Alive). A process that sees it must build a new Bus, and everything
// holding handles made from this one, to reach the broker again.
func (b *Bus) Lost() <-chan struct{} { return b.lost }

// Alive reports whether the connection can still carry traffic, now or after
// nats.go's own reconnect: nil while connected or reconnecting, and an error
// wrapping ErrConnectionLost and naming the cause once the connection is
// closed for good without Close. nats.go reconnects after network failures
// and broker restarts, but closes the connection for good when the server
// drops it for a protocol error; no handle made from it works again.
func (b *Bus) Alive(context.Context) error {
	select {
	case <-b.lost:
		return b.lostErr
	default:
		return nil
	}
}

func authOptions(cfg config.NATS) []nats.Option {
	var o []nats.Option
	if cfg.CredsFile != "" {
		o = append(o, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.User != "" {
		o = append(o, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.Token != "" {
		o = append(o, nats.Token(cfg.Token))
	}
	return o
}

func tlsOptions(t config.TLS) ([]nats.Option, error) {
	if t.CAFile == "" && t.CertFile == "" && t.KeyFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading nats.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("nats.tls.ca_file %s: no PEM certificates found", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading nats.tls.cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return []nats.Option{nats.Secure(tc)}, nil
}
