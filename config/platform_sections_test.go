package config

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// acmeSection is a platform's own section, as an adapter package defines
// it: keys, defaults, checks and secrets of its own, none in package config.
type acmeSection struct {
	URL     string        `yaml:"url" secret:"url"`
	Token   string        `yaml:"token" secret:"true"`
	Timeout time.Duration `yaml:"timeout"`
	Rooms   []string      `yaml:"rooms"`
}

func (a *acmeSection) Provision() {
	if a.Timeout == 0 {
		a.Timeout = 7 * time.Second
	}
}

func (a *acmeSection) Validate() error {
	var errs []error
	if a.Token != "" && a.URL == "" {
		errs = append(errs, SectionError("url", "required with a token"))
	}
	for i, r := range a.Rooms {
		if r == "" {
			errs = append(errs, SectionError(fmt.Sprintf("rooms[%d]", i), "empty room"))
		}
	}
	return errors.Join(errs...)
}

func init() { RegisterSection("acme", func() Section { return &acmeSection{} }) }

// TestPlatformSections: a registered platform's section, platforms.<name>,
// is read as strictly as the rest of the file (unknown keys with "did you
// mean", types, ${VAR}), gets its defaults and its own validation, errors
// naming platforms.<name>.<key>; a section left out gets its defaults; its
// secrets are redacted by their tags.
func TestPlatformSections(t *testing.T) {
	for _, tc := range []struct {
		name     string
		yaml     string
		env      []string
		want     *acmeSection
		wantErr  []string
		wantKind error
	}{
		{name: "left out: the defaults", yaml: "", want: &acmeSection{Timeout: 7 * time.Second}},
		{name: "given, with a variable", yaml: "platforms:\n  acme:\n    url: https://acme.test\n    token: ${ACME_TOKEN}\n    rooms: [a, b]\n",
			env: []string{"ACME_TOKEN", "t0k"}, want: &acmeSection{URL: "https://acme.test", Token: "t0k", Timeout: 7 * time.Second, Rooms: []string{"a", "b"}}},
		{name: "set from the environment", yaml: "platforms:\n  acme:\n    url: https://acme.test\n    token: file\n",
			env:  []string{"CHATWARDEN_PLATFORMS_ACME_TOKEN", "from-env", "CHATWARDEN_PLATFORMS_ACME_ROOMS", "a, b", "CHATWARDEN_PLATFORMS_ACME_TIMEOUT", "9s"},
			want: &acmeSection{URL: "https://acme.test", Token: "from-env", Timeout: 9 * time.Second, Rooms: []string{"a", "b"}}},
		{name: "set from the environment alone", yaml: "",
			env:  []string{"CHATWARDEN_PLATFORMS_ACME_URL", "https://acme.test", "CHATWARDEN_PLATFORMS_ACME_TOKEN", "t"},
			want: &acmeSection{URL: "https://acme.test", Token: "t", Timeout: 7 * time.Second}},
		{name: "a bad value from the environment names its variable", yaml: "", wantKind: ErrWrongType,
			env:     []string{"CHATWARDEN_PLATFORMS_ACME_TIMEOUT", "soon"},
			wantErr: []string{"platforms.acme.timeout", "CHATWARDEN_PLATFORMS_ACME_TIMEOUT"}},
		{name: "a typo in a key", yaml: "platforms:\n  acme:\n    tokn: x\n", wantKind: ErrUnknownKey,
			wantErr: []string{`platforms.acme.tokn (line 3): unknown key; did you mean "platforms.acme.token"?`}},
		{name: "a wrong type", yaml: "platforms:\n  acme:\n    timeout: 5\n", wantKind: ErrWrongType,
			wantErr: []string{"platforms.acme.timeout (line 3):"}},
		{name: "an unknown platform", yaml: "platforms:\n  acmee: {}\n", wantKind: ErrUnknownKey,
			wantErr: []string{`platforms.acmee (line 2): no platform registered by that name`, `did you mean "platforms.acme"?`}},
		{name: "the section's own checks", yaml: "platforms:\n  acme:\n    token: x\n    rooms: [a, '']\n", wantKind: ErrInvalid,
			wantErr: []string{"platforms.acme.url: required with a token", "platforms.acme.rooms[1]: empty room"}},
		{name: "not a mapping", yaml: "platforms: [acme]\n", wantKind: ErrWrongType,
			wantErr: []string{"platforms (line 1): must be a mapping of platform names"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), env(tc.env...))
			if tc.wantErr != nil {
				require.Error(t, err)
				assert.ErrorIs(t, err, tc.wantKind)
				for _, w := range tc.wantErr {
					assert.Contains(t, err.Error(), w)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.Platforms["acme"])
		})
	}

	t.Run("redacted", func(t *testing.T) {
		c, err := Parse([]byte("platforms:\n  acme:\n    url: https://user:pw@acme.test\n    token: s3cret\n"), env())
		require.NoError(t, err)
		r := c.Redacted().Platforms["acme"].(*acmeSection)
		assert.Equal(t, RedactedValue, r.Token)
		assert.NotContains(t, r.URL, "pw")
		assert.Equal(t, "s3cret", c.Platforms["acme"].(*acmeSection).Token, "the original keeps its secrets")
	})
}
