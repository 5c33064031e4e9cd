package bustest

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster is a JetStream cluster of in-process nats-server nodes on
// 127.0.0.1, for tests of replicated streams and of a node going away. Each
// node has its own client port, route port, store and server name; Stop and
// Restart of a node keep its ports and store, like a broker process that is
// restarted.
type Cluster struct {
	t     testing.TB
	name  string
	nodes []*Node
}

// Node is one server of a Cluster.
type Node struct {
	c         *Cluster
	name      string
	port      int
	routePort int
	dir       string
	srv       *server.Server
}

// StartCluster starts n JetStream nodes (n >= 1; 3 for replicas 3) in one
// cluster and returns when the cluster has a JetStream meta leader and every
// node is current. The nodes are shut down at the end of the test.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("bustest: a cluster needs at least one node, got %d", n)
	}
	c := &Cluster{t: t, name: "chatwarden-test-" + strconv.Itoa(freePort(t))}
	for i := 0; i < n; i++ {
		c.nodes = append(c.nodes, &Node{c: c, name: fmt.Sprintf("n%d", i+1), port: freePort(t), routePort: freePort(t), dir: t.TempDir()})
	}
	t.Cleanup(c.Stop)
	// Start them together: a node waits for its peers before JetStream
	// is ready, so starting one at a time would only add waiting.
	errs := make(chan error, n)
	for _, nd := range c.nodes {
		go func() { errs <- nd.start() }()
	}
	for range c.nodes {
		if err := <-errs; err != nil {
			t.Fatalf("bustest: %v", err)
		}
	}
	c.WaitReady()
	return c
}

// URLs is the client URLs of every node, comma-separated, as nats.url takes
// them.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		urls[i] = nd.URL()
	}
	return strings.Join(urls, ",")
}

// Nodes returns the nodes, in the order they were created.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Node returns the i-th node (0-based).
func (c *Cluster) Node(i int) *Node { return c.nodes[i] }

// Leader returns the node that is JetStream's meta leader now, or nil.
func (c *Cluster) Leader() *Node {
	for _, nd := range c.nodes {
		if s := nd.srv; s != nil && s.JetStreamIsLeader() {
			return nd
		}
	}
	return nil
}

// WaitReady waits (up to 30s) until the cluster has a meta leader, every
// running node's JetStream is current with it, and the leader sees every
// running node as an online peer (otherwise placing a replicated stream fails
// with "no suitable peers for placement, peer offline").
func (c *Cluster) WaitReady() {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c.ready() {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("bustest: cluster %s has no JetStream meta leader with every node current after 30s", c.name)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (c *Cluster) ready() bool {
	leader := c.Leader()
	if leader == nil {
		return false
	}
	running := 0
	for _, nd := range c.nodes {
		if s := nd.srv; s != nil {
			running++
			if !s.JetStreamIsCurrent() {
				return false
			}
		}
	}
	return len(leader.srv.JetStreamClusterPeers()) >= running
}

// Stop shuts every node down (idempotent).
func (c *Cluster) Stop() {
	for _, nd := range c.nodes {
		nd.Stop()
	}
}

// Name is the node's server name.
func (nd *Node) Name() string { return nd.name }

// URL is the node's client URL.
func (nd *Node) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(nd.port) }

// Running reports whether the node is started.
func (nd *Node) Running() bool { return nd.srv != nil }

// Server is the running nats-server (nil while stopped), for assertions
// such as JetStreamIsStreamLeader.
func (nd *Node) Server() *server.Server { return nd.srv }

// Stop shuts the node down (idempotent); the others keep running.
func (nd *Node) Stop() {
	if nd.srv != nil {
		nd.srv.Shutdown()
		nd.srv.WaitForShutdown()
		nd.srv = nil
	}
}

// Restart stops the node if it runs and starts it again with the same
// ports, store and name, then waits until the cluster is ready again.
func (nd *Node) Restart() {
	nd.c.t.Helper()
	nd.Stop()
	if err := nd.start(); err != nil {
		nd.c.t.Fatalf("bustest: %v", err)
	}
	nd.c.WaitReady()
}

func (nd *Node) start() error {
	var routes []*url.URL
	for _, peer := range nd.c.nodes {
		if peer != nd {
			routes = append(routes, &url.URL{Scheme: "nats", Host: "127.0.0.1:" + strconv.Itoa(peer.routePort)})
		}
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: nd.name,
		Host:       "127.0.0.1", Port: nd.port,
		Cluster:   server.ClusterOpts{Name: nd.c.name, Host: "127.0.0.1", Port: nd.routePort},
		Routes:    routes,
		JetStream: true, StoreDir: nd.dir,
		NoSigs: true, NoLog: true, MaxPayload: 8 << 20,
	})
	if err != nil {
		return fmt.Errorf("configuring nats-server %s: %w", nd.name, err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("nats-server %s on port %d not ready", nd.name, nd.port)
	}
	nd.srv = srv
	return nil
}
