// Package buildinfo says what a chatwarden binary is: its version, the VCS
// revision and commit time it was built from, and the Go toolchain, as the
// Go linker recorded them (runtime/debug.ReadBuildInfo).
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Unknown stands for a field the binary does not record: a revision when
// it was built outside a VCS checkout or with -buildvcs=false (go test
// binaries, the container image, whose build context has no .git).
const Unknown = "unknown"

// DevVersion is the version of a binary that records none: built with
// `go run`, `go test` or -buildvcs=false, and no -ldflags version.
const DevVersion = "dev"

// Info describes one build.
type Info struct {
	// Version is the override given (-ldflags "-X .../cli.Version=v1.2.3")
	// when set and not DevVersion, else the main module's version as the Go
	// toolchain stamped it (a tag such as v1.2.3, or a pseudo-version
	// v0.0.0-<time>-<revision>[+dirty] from the VCS), else DevVersion.
	Version string
	// Revision is the VCS revision (vcs.revision), Unknown when not recorded.
	Revision string
	// Time is the commit time of Revision in RFC 3339 (vcs.time), "" when
	// not recorded.
	Time string
	// Modified reports that the work tree had uncommitted changes
	// (vcs.modified=true).
	Modified bool
	// GoVersion is the toolchain that built the binary, e.g. go1.26.8.
	GoVersion string
	// Platform is GOOS/GOARCH of the binary.
	Platform string
}

// Read describes the running binary; version is the -ldflags override (""
// or DevVersion: none).
func Read(version string) Info {
	bi, _ := debug.ReadBuildInfo()
	return From(bi, version)
}

// From describes the build bi (nil: the binary records none, as when it was
// built without module support); version is the -ldflags override (""
// or DevVersion: none). It reads nothing else, so tests can feed it any
// build information.
func From(bi *debug.BuildInfo, version string) Info {
	info := Info{Version: version, Revision: Unknown, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		if info.Version == "" || info.Version == DevVersion {
			info.Version = bi.Main.Version
		}
		var goos, goarch string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if s.Value != "" {
					info.Revision = s.Value
				}
			case "vcs.time":
				info.Time = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			case "GOOS":
				goos = s.Value
			case "GOARCH":
				goarch = s.Value
			}
		}
		if goos != "" && goarch != "" {
			info.Platform = goos + "/" + goarch
		}
	}
	if info.Version == "" || info.Version == "(devel)" {
		info.Version = DevVersion
	}
	return info
}

// String is the text of `chatwarden version`: the version on the first
// line, then one line each for the revision (with "(modified)" when the
// tree had uncommitted changes), its commit time and the Go toolchain.
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "chatwarden %s\n", i.Version)
	rev := i.Revision
	if i.Modified {
		rev += " (modified)"
	}
	fmt.Fprintf(&b, "  revision:    %s\n", rev)
	t := i.Time
	if t == "" {
		t = Unknown
	}
	fmt.Fprintf(&b, "  commit time: %s\n", t)
	fmt.Fprintf(&b, "  go:          %s %s\n", i.GoVersion, i.Platform)
	return b.String()
}
