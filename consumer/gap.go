package consumer

// gapGuard detects deliveries lost on their way from the broker to this
// replica.
//
// JetStream numbers a consumer's deliveries (the consumer sequence); a pinned
// replica receives them in that order. A jump (7, 8, 11) means deliveries 9
// and 10 never arrived: they were lost with a connection to a failing broker
// node, or dropped by the client. The broker redelivers them only when their
// ack wait runs out, and the events after the gap may belong to the same
// chats, so handling those now would apply a chat's later event before its
// earlier one: the partition holds them instead (see partition). A jump also
// follows when another replica held the partition for a while (failover and
// back): holding until nothing is pending elsewhere is then right too.
type gapGuard struct {
	last uint64 // consumer sequence of the last delivery seen (0: none yet)
}

// observe records a delivery with consumer sequence seq and returns how many
// deliveries were lost just before it (0 when none).
func (g *gapGuard) observe(seq uint64) (lost uint64) {
	if g.last != 0 && seq > g.last+1 {
		lost = seq - g.last - 1
	}
	// In order, after a gap, or lower when the consumer was recreated:
	// count from here.
	g.last = seq
	return lost
}
