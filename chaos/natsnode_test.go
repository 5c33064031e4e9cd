package chaos_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// natsNodeSpec describes a NATS node run as a process of its own (see
// natsNodeEnv): a JetStream cluster member listening on Host.
type natsNodeSpec struct {
	Name      string   `json:"name"`
	Cluster   string   `json:"cluster"`
	Host      string   `json:"host"`
	Port      int      `json:"port"`
	RoutePort int      `json:"route_port"`
	Routes    []string `json:"routes"` // nats://host:port of the other nodes' route listeners
	Dir       string   `json:"dir"`
}

// runNATSNode runs the node spec describes until SIGTERM or SIGINT; its log
// goes to stderr.
func runNATSNode(spec string) int {
	var s natsNodeSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", natsNodeEnv, err)
		return 2
	}
	opts := &server.Options{
		ServerName: s.Name,
		Host:       s.Host, Port: s.Port,
		Cluster:   server.ClusterOpts{Name: s.Cluster, Host: s.Host, Port: s.RoutePort},
		Routes:    server.RoutesFromStr(strings.Join(s.Routes, ",")),
		JetStream: true, StoreDir: s.Dir,
		NoSigs: true, MaxPayload: 8 << 20,
		Logtime: true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "configuring nats-server %s: %v\n", s.Name, err)
		return 1
	}
	srv.ConfigureLogger()
	go srv.Start()
	if !srv.ReadyForConnections(time.Minute) {
		fmt.Fprintf(os.Stderr, "nats-server %s not ready for connections after a minute\n", s.Name)
		srv.Shutdown()
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	srv.Shutdown()
	srv.WaitForShutdown()
	return 0
}
