package bus

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/chatwarden/chatwarden/config"
)

// CredentialsFile is the file in nats.data_dir holding the credentials the
// embedded server requires of every client when nats.user/nats.password and
// nats.token are not configured. It is created at first start with mode 0600
// and re-used afterwards; the operational subcommands read it to reach a
// running service. JSON: {"user": "...", "password": "..."}.
const CredentialsFile = "nats-credentials.json"

// credentialsUser is the user name of generated credentials.
const credentialsUser = "chatwarden"

// credentialsBytes is how many random bytes a generated password holds.
const credentialsBytes = 32

// Credentials authenticate a client to the embedded server: User and
// Password, or Token.
type Credentials struct {
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	Token    string `json:"token,omitempty"`
}

// Option returns the nats.go option that presents c.
func (c Credentials) Option() nats.Option {
	if c.Token != "" {
		return nats.Token(c.Token)
	}
	return nats.UserInfo(c.User, c.Password)
}

func (c Credentials) valid() bool {
	return c.Token != "" || (c.User != "" && c.Password != "")
}

// configuredCredentials are nats.user/nats.password or nats.token; ok is
// false when neither is set.
func configuredCredentials(cfg config.NATS) (c Credentials, ok bool) {
	switch {
	case cfg.User != "":
		return Credentials{User: cfg.User, Password: cfg.Password}, true
	case cfg.Token != "":
		return Credentials{Token: cfg.Token}, true
	}
	return Credentials{}, false
}

// ReadCredentials reads the generated credentials kept in dataDir
// (CredentialsFile); fs.ErrNotExist when there are none.
func ReadCredentials(dataDir string) (Credentials, error) {
	path := filepath.Join(dataDir, CredentialsFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("reading the embedded broker's credentials: %w", err)
	}
	var c Credentials
	if err := json.Unmarshal(data, &c); err != nil {
		return Credentials{}, fmt.Errorf("reading the embedded broker's credentials %s: %w", path, err)
	}
	if !c.valid() {
		return Credentials{}, fmt.Errorf("the embedded broker's credentials %s name no user and password or token", path)
	}
	return c, nil
}

// embeddedCredentials are the credentials the embedded server requires:
// the configured ones, or those kept in the data directory, generated at
// first start. A credentials file readable by group or others is logged and
// narrowed to 0600.
func embeddedCredentials(cfg config.NATS, logger *zap.Logger) (Credentials, error) {
	if c, ok := configuredCredentials(cfg); ok {
		return c, nil
	}
	path := filepath.Join(cfg.DataDir, CredentialsFile)
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return generateCredentials(path)
	case err != nil:
		return Credentials{}, fmt.Errorf("reading the embedded broker's credentials: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		logger.Warn("the embedded broker's credentials file was readable by other users; setting its mode to 0600 (rotate the credentials by deleting the file and restarting if others may have read it)",
			zap.String("path", path), zap.String("mode", perm.String()))
		if err := os.Chmod(path, 0o600); err != nil {
			return Credentials{}, fmt.Errorf("narrowing the mode of the embedded broker's credentials %s to 0600: %w", path, err)
		}
	}
	return ReadCredentials(cfg.DataDir)
}

// generateCredentials writes new random credentials to path with mode 0600,
// atomically: a crash leaves either no file or a complete one.
func generateCredentials(path string) (Credentials, error) {
	secret := make([]byte, credentialsBytes)
	if _, err := rand.Read(secret); err != nil {
		return Credentials{}, fmt.Errorf("generating the embedded broker's credentials: %w", err)
	}
	c := Credentials{User: credentialsUser, Password: base64.RawURLEncoding.EncodeToString(secret)}
	data, err := json.Marshal(c)
	if err != nil {
		return Credentials{}, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), CredentialsFile+".*")
	if err != nil {
		return Credentials{}, fmt.Errorf("writing the embedded broker's credentials: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(append(data, '\n'))
	if werr == nil {
		werr = tmp.Chmod(0o600) // CreateTemp makes 0600 already; stated for the reader
	}
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		return Credentials{}, fmt.Errorf("writing the embedded broker's credentials %s: %w", path, werr)
	}
	return c, nil
}

// serverCredentials makes the embedded server require c of every client. It
// keeps only a bcrypt hash (the server's own format, which also spares the
// "plaintext passwords" warning); the lowest cost suffices, since the secret
// is 32 random bytes, and keeps connecting fast. A configured secret longer
// than bcrypt takes (72 bytes) is kept as it is.
func serverCredentials(o *server.Options, c Credentials) error {
	secret := c.Password
	if c.Token != "" {
		secret = c.Token
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.MinCost)
	if errors.Is(err, bcrypt.ErrPasswordTooLong) { // a configured secret over 72 bytes: kept as it is
		hash, err = []byte(secret), nil
	}
	if err != nil {
		return fmt.Errorf("hashing the embedded broker's credentials: %w", err)
	}
	if c.Token != "" {
		o.Authorization = string(hash)
		return nil
	}
	o.Username, o.Password = c.User, string(hash)
	return nil
}
