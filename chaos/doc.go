// Package chaos holds chatwarden's fault-tolerance tests; it has no code of
// its own. They run chatwarden the way users run it once they outgrow one
// machine (receivers and workers as separate replicas against a 3-node NATS
// cluster with nats.replicas 3) while faults happen, then check the
// guarantees of the README from the outside: from the webhook answers, the
// streams, and the call log of the fake LiveChat API.
//
//   - TestClusterNodeStop: a receiver and a worker (service.Start, one role
//     each) against the cluster; the node leading the events stream is
//     stopped mid-run and started again a few seconds later.
//   - TestChaos: two receivers and two worker processes (the test binary
//     re-executed as `chatwarden work --config F`, see TestMain); the busier
//     worker is killed with SIGKILL and restarted; the LiveChat API answers
//     429, 500 or hangs past the client timeout at random; the node leading
//     the events stream is restarted once.
//   - TestPartition: two receivers and two workers against a 3-node NATS
//     cluster, every one of them a process in its own Linux network
//     namespace (the test builds the hosts: a bridge for the broker network,
//     one for the API network, a veth pair per host and network). A worker
//     is cut off from the broker while it holds partitions and has calls in
//     flight (its API calls fail meanwhile, so its events outlive their ack
//     wait and the other worker takes them over), then joined again; a
//     receiver is cut off from the broker (it must answer 503 within a
//     second and fail /readyz); the node leading the events stream is cut
//     off from the other two. Cutting off sets the bridge's end of the
//     host's veth pair down: packets are dropped silently, as in a real
//     partition. It needs root and iproute2 (ip); it skips without them,
//     saying why, and fails under CI=true, where it must run.
//
// They run with `go test ./...` (about 20s, 50-70s and 90-150s on two
// cores) and are skipped with -short. Run them alone with
//
//	go test -race ./chaos -run 'Chaos|Cluster|Partition' -v
//
// The short form sends 429 to 1% of API calls rather than 10%: above 2% the
// LiveChat client's adaptive limiter takes them for a rate limit and slows
// the workers to a few events a second. The long form of TestChaos, as
// issue 5 specifies it (20,000 webhooks over 2,000 chats, a worker killed
// every ~5s, 429 on 10% of API calls), runs on demand and takes most of an
// hour:
//
//	go test -race ./chaos -run TestChaos -v -timeout 90m -chaos.long
//	CHATWARDEN_CHAOS=long go test -race ./chaos -run TestChaos -v -timeout 90m
//
// Flags: -chaos.seed N repeats a run's traffic and random API faults (timing
// still differs), -chaos.logdir DIR keeps the configuration and the logs of
// every replica, -chaos.loglevel info makes them verbose, -chaos.drain D
// changes how long the workers may take after the last webhook.
//
// # What is checked
//
// Each webhook carries, in its payload, its position among its chat's
// webhooks (chaos_seq); a chat's webhooks are posted one after the other,
// each once the previous one was answered. The rules (rules_test.go) act on
// every event; one of them is a Go handler writing the sequence number to
// the chat with update_chat_properties, an idempotent call whose order in the
// fake's call log is the order the chat's events were applied in. Each
// replica's API base URL names it, so the call log also tells which replica
// made each call. At the end the test prints, and checks:
//
//   - every webhook answered 200 is in the events stream;
//   - every action the rules require was applied (sequence written, chats
//     with chat_deactivated unpinned, threads with incoming_event tagged,
//     one send_event per chat_transferred event);
//   - no per-chat order violation: a chat's sequence writes follow the order
//     its events were stored in (writing one again on a redelivery is fine,
//     going back to an earlier one is not), and no call about a chat arrives
//     while another call about the same chat is being served;
//   - no repeated non-idempotent action: send_event performed once per event;
//   - every dead letter has a reason, and the only dead letters are the
//     events of the chats the API does not know (1 chat in 50).
//
// Violations are listed with their evidence: the applied order with the
// replica of each call, the audit records of the event (on which delivery it
// was acted on) and the fault timeline.
package chaos
