package config

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/chatwarden/chatwarden/internal/sealed"
)

// Secrets configures the encryption of the secrets chatwarden keeps in NATS:
// the LiveChat OAuth access and refresh tokens in the key-value bucket
// CHATWARDEN_OAUTH (AES-256-GCM, see internal/sealed).
type Secrets struct {
	// Keys are the encryption keys, each an id (stored with every value,
	// 1-64 letters, digits, '.', '_', '-') and a key: base64 of 32 random
	// bytes (`openssl rand -base64 32`), typically "${CHATWARDEN_SECRETS_KEY}".
	// The first key encrypts every new write; the others only decrypt, so a
	// key is rotated by putting the new one first and keeping the old one
	// until every value was written again. Entries with an empty key (an
	// unset variable) are dropped. Default none: tokens are stored in clear,
	// with a warning at startup when OAuth is configured.
	Keys []SecretKey `yaml:"keys"`
}

// SecretKey is one entry of secrets.keys.
type SecretKey struct {
	ID  string `yaml:"id"`
	Key string `yaml:"key"`
}

// Keyring is the keyring of secrets.keys, nil without keys. Validate
// reports the errors it can return.
func (s Secrets) Keyring() (*sealed.Keyring, error) {
	if len(s.Keys) == 0 {
		return nil, nil
	}
	keys := make([]sealed.Key, 0, len(s.Keys))
	for i, k := range s.Keys {
		key, err := sealed.ParseKey(k.ID, k.Key)
		if err != nil {
			return nil, fmt.Errorf("secrets.keys[%d]: %w", i, err)
		}
		keys = append(keys, key)
	}
	k, err := sealed.NewKeyring(keys...)
	if err != nil {
		return nil, fmt.Errorf("secrets.keys: %w", err)
	}
	return k, nil
}

// Admin configures the admin listener: the admin API (/admin/), the web
// console (/ui/), Prometheus metrics (/metrics) and Go's profiler
// (/debug/pprof/). It is a listener of its own so that the public webhook
// port (http.addr) never exposes them.
type Admin struct {
	// Addr is the host:port of the admin listener, or "off" for none. A
	// non-loopback address needs Token: the process refuses to start
	// without it. Port 0 picks a free port. Default "127.0.0.1:9090".
	Addr string `yaml:"addr"`
	// Token is the bearer token of /admin/, the console's data, /debug/pprof/
	// and (unless MetricsPublic) /metrics. It used to be http.admin_token,
	// which is still read, with a warning. Default "": those routes answer
	// 403 saying to set it.
	Token string `yaml:"token"`
	// MetricsPublic serves /metrics without the token, for a Prometheus
	// scraping over a private network. Default false.
	MetricsPublic bool `yaml:"metrics_public"`
	// ReadTimeout bounds the time to read a whole request, body included
	// (the server's ReadTimeout); the headers are bounded by
	// http.header_timeout. Default 30s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds the time from the end of a request's headers to
	// the end of its answer (the server's WriteTimeout). A CPU profile or
	// execution trace of /debug/pprof/ may last at most this long. Default
	// 2m.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request before it is closed (the server's IdleTimeout). Default 2m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// AdminOff as admin.addr turns the admin listener off.
const AdminOff = "off"

// OTel configures OpenTelemetry tracing: spans from each webhook request
// through the stored event (W3C traceparent in the NATS message headers) to
// the worker, each rule and each platform API call, exported over OTLP/HTTP.
// Off by default, at no cost.
type OTel struct {
	// Endpoint is the OTLP/HTTP collector, e.g. "http://otel-collector:4318"
	// (traces go to <endpoint>/v1/traces). Default "": tracing off.
	Endpoint string `yaml:"endpoint"`
	// ServiceName names this process in traces. Default "chatwarden".
	ServiceName string `yaml:"service_name"`
	// SampleRatio is the share of new traces recorded, 0..1 (a webhook's
	// trace continues in the workers whatever the ratio). Default 1.
	SampleRatio float64 `yaml:"sample_ratio"`
}

// HTTP configures the public HTTP listener of every role: webhooks (serve,
// receive), /healthz and /readyz (all roles). The admin API, console, metrics
// and profiler are on the admin listener (see Admin).
type HTTP struct {
	// Addr is the host:port to listen on; an empty host means every
	// interface. Default ":8080".
	Addr string `yaml:"addr"`
	// MaxBodyBytes caps a webhook body; a larger one is answered 413. At
	// least 1024. Default 1048576 (1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// PublishTimeout is how long a webhook request waits for JetStream to
	// acknowledge the stored event before it is answered 503 with
	// Retry-After. Default 5s.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// ShutdownTimeout bounds the graceful shutdown: in-flight requests and
	// workers get this long to finish. Default 20s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MaxInflightBytes bounds the webhook bodies being received and stored
	// at once. A body is charged as its bytes arrive, never by its declared
	// Content-Length: its buffer starts at 4 KiB and doubles as it fills, so
	// it counts at most twice the bytes received. Beyond it, webhooks are answered 503 with
	// Retry-After at once instead of queueing: overload costs retries, not
	// memory. At least max_body_bytes. Default 67108864 (64 MiB).
	MaxInflightBytes int64 `yaml:"max_inflight_bytes"`
	// MaxInflight bounds the webhooks being stored at once (a webhook takes
	// its slot once its whole body has arrived, so a slow or stalled body
	// holds none); beyond it they are answered 503 with Retry-After at once.
	// It keeps
	// the latency of accepted webhooks low under overload: a stored event
	// takes a few milliseconds, so 256 in flight means well under 100ms of
	// waiting. Default 256.
	MaxInflight int `yaml:"max_inflight"`
	// MaxMemoryBytes is the process's memory budget, embedded broker
	// included: Go's soft memory limit is set to 90% of it (unless
	// GOMEMLIMIT is set), and webhooks are answered 503 with Retry-After
	// while the live heap is above 70% of it, until the broker's read cache
	// shrinks back. Set it a little under a container's memory limit. 0 or
	// at least 67108864 (64 MiB). Default 0 (no budget).
	MaxMemoryBytes int64 `yaml:"max_memory_bytes"`
	// HeaderTimeout bounds the time to read a request's headers (the
	// server's ReadHeaderTimeout); a connection that takes longer is
	// closed. Default 5s.
	HeaderTimeout time.Duration `yaml:"header_timeout"`
	// BodyTimeout bounds the time to receive a webhook's whole body, counted
	// from when its headers have been read. A body that has not arrived by
	// then is answered 408 and its connection closed: a stalled sender holds
	// its connection for this long at most. Webhook bodies are small (a few
	// KB) and arrive in one go. Default 5s.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// MaxConnsPerIP caps the connections open at once from one client
	// address (the TCP peer; connections from trusted_proxies are not
	// capped). One more is answered 429 with Retry-After and closed before
	// its request is read; other addresses are not affected. A platform
	// sends from a handful of addresses over pooled keep-alive connections:
	// at 5,000 webhooks/s from 4 addresses, even at 50 ms an answer, each
	// has about 63 requests open (Little's law), so 256 leaves four times
	// that for pools that keep idle connections. At least 1. Default 256.
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
	// MaxInflightPerIP caps the webhooks being received or stored at once
	// for one client address (the forwarded one behind trusted_proxies);
	// one more is answered 429 with Retry-After and its connection closed.
	// The same answer goes to an address whose webhooks would hold more than
	// a quarter of max_inflight_bytes (or one body of max_body_bytes if
	// more): no one address can take the whole byte budget with bodies it
	// sends slowly. Sized as
	// max_conns_per_ip from the same reasoning (about 63 in flight per
	// sender address at 5,000/s and 50 ms). At least 1. Default 64.
	MaxInflightPerIP int `yaml:"max_inflight_per_ip"`
	// TrustedProxies are the reverse proxies (CIDRs, or single addresses)
	// allowed to name the client: only when the TCP peer is one of them do
	// X-Forwarded-For (its rightmost address not itself a trusted proxy) or
	// X-Real-IP name the client, for logs and max_inflight_per_ip; their
	// connections are not capped by max_conns_per_ip. Default none: the
	// TCP peer is the client and forwarded headers are ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// MaxConns caps the connections open at once from every address
	// together (trusted proxies included); one more is answered 503 with
	// Retry-After and closed before its request is read. It keeps memory
	// (about 16 KB a connection: 4096 take some 64 MiB) and file
	// descriptors for the rest of the process (the embedded broker's files)
	// however many addresses connect; a platform's senders need a few
	// hundred at most (see max_conns_per_ip). At least 1. Default 4096.
	MaxConns int `yaml:"max_conns"`
	// ReadTimeout bounds the time to read a whole request, body included
	// (the server's ReadTimeout); webhooks' bodies are bounded sooner by
	// BodyTimeout. Default 30s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds the time from the end of a request's headers to
	// the end of its answer (the server's WriteTimeout): past it the
	// connection is closed without one. Keep it above PublishTimeout.
	// Default 30s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request before it is closed (the server's IdleTimeout). Default 2m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// TrustedProxyPrefixes is TrustedProxies parsed (a single address as a
// one-address prefix); entries that do not parse are left out (Validate
// reports them).
func (h HTTP) TrustedProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range h.TrustedProxies {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// NATS configures the broker: an external server or cluster (URL set), or
// the embedded server (URL empty).
type NATS struct {
	// URL is the NATS server to connect to; several may be given separated
	// by commas (nats://a:4222,nats://b:4222). Default "": start an embedded
	// nats-server with JetStream, storing under DataDir.
	URL string `yaml:"url"`
	// Listen is the host:port on which the embedded server accepts clients
	// (the nats CLI, chatwarden's operational subcommands). "off" turns the
	// listener off: only the process itself can reach the embedded server,
	// and the operational subcommands cannot run while it does. An address
	// other than loopback requires User/Password or Token. Ignored when URL
	// is set. Default "127.0.0.1:4222".
	Listen string `yaml:"listen"`
	// DataDir is where the embedded server keeps JetStream files. A relative
	// path is relative to the working directory. Ignored when URL is set.
	// Default "./data".
	DataDir string `yaml:"data_dir"`
	// Partitions is how many partitions events are spread over by chat;
	// events of one chat stay in one partition, in order. 1..1024. Default
	// 16. The events stream records the number it was created with; a later
	// start with another number fails rather than reorder chats.
	Partitions int `yaml:"partitions"`
	// DuplicateWindow is how long JetStream remembers message ids to drop
	// redelivered webhooks; at most Retention. Default 10m.
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	// Retention is how long stored events are kept (for replay). Default
	// 168h (7 days).
	Retention time.Duration `yaml:"retention"`
	// Replicas is the number of stream replicas on a NATS cluster, 1..5;
	// must be 1 with the embedded server. Default 1.
	Replicas int `yaml:"replicas"`
	// CredsFile is a NATS credentials file (JWT and nkey seed). Default "".
	CredsFile string `yaml:"creds_file"`
	// User and Password authenticate with user/password. Default "". With
	// the embedded server they are what it requires of every client; when
	// they and Token are empty it requires random credentials generated at
	// first start into DataDir (bus.CredentialsFile, mode 0600).
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	// Token authenticates with a token (with the embedded server: the token
	// it requires). Default "".
	Token string `yaml:"token"`
	// TLS configures TLS to the server. Default: none (a tls:// URL still
	// uses the system roots).
	TLS TLS `yaml:"tls"`
	// Name is the connection name shown by the server's monitoring.
	// Default "chatwarden".
	Name string `yaml:"name"`
	// MaxFileStoreBytes caps what the embedded server's JetStream stores on
	// disk (its max_file_store); at the cap, webhooks are answered 503
	// (storage_full) until retention frees room. Default 0: JetStream's own
	// choice, 75% of the free space of DataDir's filesystem at start (plus
	// what it already stores). At least 1 MiB when set. Ignored when URL is
	// set (the server's own configuration decides).
	MaxFileStoreBytes int64 `yaml:"max_file_store_bytes"`
	// MinFreeDiskBytes is the free space on DataDir's filesystem below which
	// the embedded server's store is reported as short of room: a warning at
	// start and whenever the free space falls below it (and a note when it
	// is back above). It refuses nothing by itself. Default 256 MiB.
	// Ignored when URL is set.
	MinFreeDiskBytes int64 `yaml:"min_free_disk_bytes"`
}

// Embedded reports whether chatwarden runs its own NATS server (URL empty).
func (n NATS) Embedded() bool { return n.URL == "" }

// TLS configures a TLS client connection. All paths default to "".
type TLS struct {
	// CAFile is a PEM bundle of the CAs that sign the server's certificate;
	// default: the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate and key for mutual
	// TLS; give both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}
