package config

import (
	"net"
	"slices"
	"strings"
	"time"
)

// Defaults and limits of the nats section.
const (
	DefaultNATSListen      = "127.0.0.1:4222"
	DefaultDataDir         = "./data"
	DefaultPartitions      = 16
	DefaultDuplicateWindow = 10 * time.Minute
	DefaultRetention       = 168 * time.Hour
	DefaultReplicas        = 1
	DefaultNATSName        = "chatwarden"
	// DefaultMinFreeDisk is nats.min_free_disk_bytes: 256 MiB.
	DefaultMinFreeDisk = 256 << 20
	// MinMaxFileStore is the smallest nats.max_file_store_bytes accepted.
	MinMaxFileStore = 1 << 20
	// MaxPartitions bounds nats.partitions, MaxReplicas nats.replicas.
	MaxPartitions = 1024
	MaxReplicas   = 5
	// ListenOff as nats.listen turns the embedded server's client listener
	// off.
	ListenOff = "off"
)

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

// Provision sets each zero setting of the nats section to its default;
// settings already set are kept. It is the one place the section's
// defaults are applied.
func (n *NATS) Provision() {
	setString(&n.Listen, DefaultNATSListen)
	setString(&n.DataDir, DefaultDataDir)
	setInt(&n.Partitions, DefaultPartitions)
	setDuration(&n.DuplicateWindow, DefaultDuplicateWindow)
	setDuration(&n.Retention, DefaultRetention)
	setInt(&n.Replicas, DefaultReplicas)
	setString(&n.Name, DefaultNATSName)
	setInt64(&n.MinFreeDiskBytes, DefaultMinFreeDisk)
}

// Validate reports every problem of the nats section, each a *FieldError
// naming its key ("nats.partitions: must be between 1 and 1024, got 0"),
// joined with errors.Join; nil when there is none. It applies no default.
func (n *NATS) Validate() error { return validateWith(n.validate) }

func (n *NATS) validate(v *validator) {
	if n.URL != "" {
		for u := range strings.SplitSeq(n.URL, ",") {
			v.natsURL("nats.url", strings.TrimSpace(u))
		}
	}
	if n.Listen != ListenOff {
		if n.Listen == "" {
			v.add("nats.listen", `must be host:port or "off"`)
		} else {
			v.hostPort("nats.listen", n.Listen, `"127.0.0.1:4222"`)
		}
	}
	if n.Embedded() && n.DataDir == "" {
		v.add("nats.data_dir", "must be set when nats.url is empty (embedded server)")
	}
	if _, _, err := net.SplitHostPort(n.Listen); err == nil && n.Embedded() && !IsLoopbackAddr(n.Listen) && n.User == "" && n.Token == "" {
		v.add("nats.listen", "%s is not a loopback address: set nats.user and nats.password (or nats.token) so the embedded broker is not open to the network, or listen on 127.0.0.1", n.Listen)
	}
	v.between("nats.partitions", n.Partitions, 1, MaxPartitions)
	v.between("nats.replicas", n.Replicas, 1, MaxReplicas)
	if n.Embedded() && n.Replicas > 1 {
		v.add("nats.replicas", "must be 1 with the embedded server (nats.url empty), got %d; replicas need a NATS cluster", n.Replicas)
	}
	v.positive("nats.duplicate_window", n.DuplicateWindow)
	v.positive("nats.retention", n.Retention)
	if n.DuplicateWindow > 0 && n.Retention > 0 && n.DuplicateWindow > n.Retention {
		v.add("nats.duplicate_window", "must not exceed nats.retention (%s), got %s", n.Retention, n.DuplicateWindow)
	}
	if n.Password != "" && n.User == "" {
		v.add("nats.password", "set without nats.user")
	}
	var methods []string
	for key, set := range map[string]bool{"nats.creds_file": n.CredsFile != "", "nats.user": n.User != "", "nats.token": n.Token != ""} {
		if set {
			methods = append(methods, key)
		}
	}
	if len(methods) > 1 {
		slices.Sort(methods)
		v.add(methods[0], "conflicts with %s: use one way to authenticate", strings.Join(methods[1:], " and "))
	}
	if (n.TLS.CertFile == "") != (n.TLS.KeyFile == "") {
		if n.TLS.CertFile == "" {
			v.add("nats.tls.cert_file", "required with nats.tls.key_file")
		} else {
			v.add("nats.tls.key_file", "required with nats.tls.cert_file")
		}
	}
	if n.Name == "" {
		v.add("nats.name", "must be set")
	}
	if n.MaxFileStoreBytes < 0 || (n.MaxFileStoreBytes > 0 && n.MaxFileStoreBytes < MinMaxFileStore) {
		v.add("nats.max_file_store_bytes", "must be 0 (JetStream's default: 75%% of the free disk at start) or at least %d (1 MiB), got %d",
			MinMaxFileStore, n.MaxFileStoreBytes)
	}
	if n.MinFreeDiskBytes < 0 {
		v.add("nats.min_free_disk_bytes", "must not be negative (default %d, 256 MiB), got %d", DefaultMinFreeDisk, n.MinFreeDiskBytes)
	}
}
