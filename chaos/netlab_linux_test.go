package chaos_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// netLab is a small network the test builds of Linux network namespaces
// (ip netns), one per host, on two bridges in the test's own namespace: the
// broker network (NATS nodes, and every chatwarden process) and the API
// network (the fake LiveChat API and the senders of webhooks, in the test
// process, and the chatwarden processes). Each host is joined to a bridge
// by a veth pair; cutting a host off a network sets the bridge's end of its
// pair down, so the host's packets are dropped without a word to either
// side, as in a real partition (no reset, no error until a timeout), and
// setting it up again heals it.
//
// It needs root (CAP_NET_ADMIN) and iproute2's ip.
type netLab struct {
	t      *testing.T
	prefix string // of every name the lab creates, unique to the run
	nets   map[string]*labNet
	hosts  map[string]*labHost
}

// labNet is a bridge and its IPv4 /24.
type labNet struct {
	name   string // "broker", "api"
	bridge string
	subnet string // "10.213.7" (the /24's first three octets)
}

// labHost is a network namespace joined to some of the lab's networks.
type labHost struct {
	name  string
	ns    string
	ips   map[string]string // network name -> address
	links map[string]string // network name -> the bridge's end of its veth pair
}

// netLabMissing says why a netLab cannot be built here ("" when it can).
func netLabMissing() string {
	if os.Geteuid() != 0 {
		return "not root: network namespaces and veth pairs need CAP_NET_ADMIN"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "iproute2's ip is not installed (apt-get install iproute2)"
	}
	return ""
}

// newNetLab builds the two networks; the test skips when it cannot (and
// fails under CI=true, where it must run). Everything is removed at the
// end of the test.
func newNetLab(t *testing.T) *netLab {
	t.Helper()
	if why := netLabMissing(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("partition test: %s; CI runs as root with iproute2", why)
		}
		t.Skipf("partition test: %s", why)
	}
	var id [2]byte
	_, _ = rand.Read(id[:])
	l := &netLab{t: t, prefix: "cw" + hex.EncodeToString(id[:]), nets: map[string]*labNet{}, hosts: map[string]*labHost{}}
	t.Cleanup(l.remove)
	third := 1 + mrand.IntN(250) // two /24s unlikely to meet another run's
	for i, name := range []string{"broker", "api"} {
		n := &labNet{name: name, bridge: l.prefix + name[:1] + "br", subnet: fmt.Sprintf("10.%d.%d", 213+i, third)}
		l.ip("link", "add", n.bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0")
		l.ip("addr", "add", n.subnet+".1/24", "dev", n.bridge)
		l.ip("link", "set", n.bridge, "up")
		l.nets[name] = n
	}
	return l
}

// gateway is the test process's address on network net.
func (l *netLab) gateway(net string) string { return l.nets[net].subnet + ".1" }

// addHost makes a namespace joined to nets with the host number n (2-254)
// as the last octet of each of its addresses.
func (l *netLab) addHost(name string, n int, nets ...string) *labHost {
	l.t.Helper()
	h := &labHost{name: name, ns: l.prefix + "-" + name, ips: map[string]string{}, links: map[string]string{}}
	l.ip("netns", "add", h.ns)
	l.hosts[name] = h
	l.ip("-n", h.ns, "link", "set", "lo", "up")
	for _, net := range nets {
		ln := l.nets[net]
		outer, inner := l.prefix+name+net[:1], l.prefix+name+net[:1]+"x"
		l.ip("link", "add", outer, "type", "veth", "peer", "name", inner, "netns", h.ns)
		l.ip("link", "set", outer, "master", ln.bridge)
		l.ip("link", "set", outer, "up")
		addr := fmt.Sprintf("%s.%d", ln.subnet, n)
		l.ip("-n", h.ns, "addr", "add", addr+"/24", "dev", inner)
		l.ip("-n", h.ns, "link", "set", inner, "up")
		h.ips[net], h.links[net] = addr, outer
	}
	return h
}

// command runs name with args inside the host's namespace.
func (h *labHost) command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
}

// wrap is the command prefix that runs a program inside the host's
// namespace.
func (h *labHost) wrap() []string { return []string{"ip", "netns", "exec", h.ns} }

// cut cuts the host off network net (its packets are dropped both ways);
// heal joins it again.
func (l *netLab) cut(h *labHost, net string)  { l.ip("link", "set", h.links[net], "down") }
func (l *netLab) heal(h *labHost, net string) { l.ip("link", "set", h.links[net], "up") }

func (l *netLab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("netlab: ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// remove deletes the lab's namespaces, veth pairs and bridges (best
// effort: the processes in them were ended by their own cleanups, which run
// first).
func (l *netLab) remove() {
	for _, h := range l.hosts {
		for _, link := range h.links {
			_ = exec.Command("ip", "link", "del", link).Run()
		}
		_ = exec.Command("ip", "netns", "del", h.ns).Run()
	}
	for _, n := range l.nets {
		_ = exec.Command("ip", "link", "del", n.bridge).Run()
	}
}
