package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

func vcs(rev, time, modified string) []debug.BuildSetting {
	return []debug.BuildSetting{
		{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm64"},
		{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
		{Key: "vcs.time", Value: time}, {Key: "vcs.modified", Value: modified},
	}
}

func TestFrom(t *testing.T) {
	here := runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name     string
		bi       *debug.BuildInfo
		override string
		want     Info
	}{
		{
			name: "tagged release from a clean tree",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"},
				Settings: vcs("7e5db813651fa28d0138f00dfb1aed1d659502b0", "2026-12-07T14:00:00Z", "false")},
			want: Info{Version: "v1.4.0", Revision: "7e5db813651fa28d0138f00dfb1aed1d659502b0",
				Time: "2026-12-07T14:00:00Z", GoVersion: "go1.26.8", Platform: "linux/arm64"},
		},
		{
			name: "pseudo-version of a modified tree",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261207140000-7e5db813651f+dirty"},
				Settings: vcs("7e5db813651fa28d0138f00dfb1aed1d659502b0", "2026-12-07T14:00:00Z", "true")},
			want: Info{Version: "v0.0.0-20261207140000-7e5db813651f+dirty", Revision: "7e5db813651fa28d0138f00dfb1aed1d659502b0",
				Time: "2026-12-07T14:00:00Z", Modified: true, GoVersion: "go1.26.8", Platform: "linux/arm64"},
		},
		{
			name:     "ldflags version wins over the module version",
			bi:       &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			override: "v2.0.0-rc1",
			want:     Info{Version: "v2.0.0-rc1", Revision: Unknown, GoVersion: "go1.26.8", Platform: here},
		},
		{
			name:     "the Dockerfile's default dev is no override",
			bi:       &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}},
			override: DevVersion,
			want:     Info{Version: "v1.4.0", Revision: Unknown, GoVersion: "go1.26.8", Platform: here},
		},
		{
			name: "go test or -buildvcs=false: no VCS settings, (devel)",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			want: Info{Version: DevVersion, Revision: Unknown, GoVersion: "go1.26.8", Platform: here},
		},
		{
			name: "no build information at all",
			want: Info{Version: DevVersion, Revision: Unknown, GoVersion: runtime.Version(), Platform: here},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, From(tt.bi, tt.override))
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		name string
		info Info
		want string
	}{
		{
			name: "clean tree",
			info: Info{Version: "v1.4.0", Revision: "7e5db81", Time: "2026-12-07T14:00:00Z", GoVersion: "go1.26.8", Platform: "linux/amd64"},
			want: "chatwarden v1.4.0\n  revision:    7e5db81\n  commit time: 2026-12-07T14:00:00Z\n  go:          go1.26.8 linux/amd64\n",
		},
		{
			name: "modified tree",
			info: Info{Version: "v1.4.0", Revision: "7e5db81", Time: "2026-12-07T14:00:00Z", Modified: true, GoVersion: "go1.26.8", Platform: "linux/amd64"},
			want: "chatwarden v1.4.0\n  revision:    7e5db81 (modified)\n  commit time: 2026-12-07T14:00:00Z\n  go:          go1.26.8 linux/amd64\n",
		},
		{
			name: "nothing recorded",
			info: Info{Version: DevVersion, Revision: Unknown, GoVersion: "go1.26.8", Platform: "linux/amd64"},
			want: "chatwarden dev\n  revision:    unknown\n  commit time: unknown\n  go:          go1.26.8 linux/amd64\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.info.String())
		})
	}
}
