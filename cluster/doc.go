// Package cluster runs several wsedge instances as one (issue 12), on NATS
// rather than a protocol of wsedge's own: each broadcast room is a NATS
// subject that every instance with members in the room subscribes to, and
// the ACME account key and certificates live in a JetStream key-value
// bucket that every instance reads, with a lock so that one instance
// orders each certificate.
//
// It implements upstream.RoomBus (Node.Rooms), so it sits above upstream
// and beside proxy: main opens the Node and hands the proxy its rooms and
// tlsconf its certificate store. Nothing else in wsedge imports it but
// config, for its section.
package cluster
