package netns

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"

	"github.com/topolab/topolab/topology"
)

// Parameters of Docker's embedded DNS server, from libnetwork's resolver.go
// (moby master, 2026).
const (
	// embeddedTTL is the TTL of every record the server answers itself.
	embeddedTTL = 600
	// forwardTimeout bounds one exchange with the upstream server, the
	// dial included.
	forwardTimeout = 4 * time.Second
	// maxForwards is the maximum number of queries forwarded at once. A
	// query that cannot get a slot within forwardTimeout gets REFUSED.
	maxForwards = 1024
)

// upstreamPort is the port of the upstream DNS server.
const upstreamPort = 53

// EmbeddedDNS answers DNS queries for one container as Docker's embedded
// DNS server at 127.0.0.11:53 does. It answers A, AAAA, MX and PTR queries
// for the names of containers on the user-defined networks the container is
// on (container name, aliases, short ID, hostname, and NAME.NETWORK), and
// forwards everything else to the plan's upstream server. An EmbeddedDNS
// is safe for concurrent use.
type EmbeddedDNS struct {
	container string
	table     nameTable
	// external is false when the container has no external access (only
	// internal networks), so that unknown names are not forwarded.
	external bool
	upstream netip.AddrPort
	forward  DialFunc
	slots    chan struct{}
	logger   *slog.Logger
}

// NewEmbeddedDNS returns the embedded DNS server of container c of plan.
// For a container that shares another's namespace (network_mode
// container:NAME), pass the owner, plan.NetnsOwner(c).
//
// Forward opens connections to the upstream server, plan.Router port 53,
// with network "udp" or "tcp" as the query arrived. Docker dials upstream
// servers taken from the host's resolv.conf from the host's namespace, so
// forward should dial from the lab host. For "udp" the connection must
// implement net.PacketConn, as *net.UDPConn does, or replies are misread.
// A nil forward makes every forwarded query fail with SERVFAIL. A nil
// logger discards the server's debug records.
func NewEmbeddedDNS(plan *topology.Plan, c *topology.PlannedContainer, forward DialFunc, logger *slog.Logger) *EmbeddedDNS {
	if logger == nil {
		logger = discardLogger
	}
	return &EmbeddedDNS{
		container: c.Name,
		table:     newNameTable(plan, c),
		external:  hasExternalAccess(plan, c),
		upstream:  netip.AddrPortFrom(plan.Router, upstreamPort),
		forward:   forward,
		slots:     make(chan struct{}, maxForwards),
		logger:    logger,
	}
}

// NeedsEmbeddedDNS reports whether Docker runs an embedded DNS server for
// c: when c, or the container whose namespace c shares, is on at least one
// user-defined network. Containers only on the default bridge, and host and
// none mode containers, use the host's resolver instead.
func NeedsEmbeddedDNS(plan *topology.Plan, c *topology.PlannedContainer) bool {
	owner := plan.NetnsOwner(c)
	if owner == nil {
		return false
	}
	for _, iface := range owner.Interfaces {
		if n := plan.Network(iface.Network); n != nil && n.UserDefined() {
			return true
		}
	}
	return false
}

// hasExternalAccess follows libnetwork's Sandbox.hasExternalAccess: a
// container has external access when one of its endpoints is on a
// non-internal network with a gateway.
func hasExternalAccess(plan *topology.Plan, c *topology.PlannedContainer) bool {
	for _, iface := range c.Interfaces {
		n := plan.Network(iface.Network)
		if n != nil && !n.Internal && n.Gateway.IsValid() {
			return true
		}
	}
	return false
}

// Serve answers queries on udp and tcp until ctx is done, then closes both
// sockets and returns nil. Either socket may be nil. The sockets must have
// been opened in the container's namespace, on 127.0.0.11:53 or on the
// address that the container's DNAT rules send port 53 to. If a socket
// fails or is closed by someone else, Serve stops the other and returns
// the error.
func (d *EmbeddedDNS) Serve(ctx context.Context, udp net.PacketConn, tcp net.Listener) error {
	return serveDNS(ctx, dns.HandlerFunc(func(w dns.ResponseWriter, query *dns.Msg) {
		resp := d.Answer(ctx, w.LocalAddr().Network(), query)
		if resp == nil {
			return
		}
		writeReply(w, query, resp, d.logger)
	}), udp, tcp)
}

// Answer returns the reply to query, which arrived over network ("udp" or
// "tcp"), forwarding it upstream when the container's networks do not know
// the name. It returns nil, meaning no reply, for a query without a
// question.
func (d *EmbeddedDNS) Answer(ctx context.Context, network string, query *dns.Msg) *dns.Msg {
	if query == nil || len(query.Question) == 0 {
		return nil
	}
	if resp := d.localAnswer(network, query); resp != nil {
		return resp
	}
	if !d.external {
		d.logger.Debug("embedded DNS did not forward: no external access",
			"container", d.container, "question", query.Question[0].String())
		return new(dns.Msg).SetRcode(query, dns.RcodeServerFailure)
	}
	if resp := d.forwardQuery(ctx, network, query); resp != nil {
		return resp
	}
	return new(dns.Msg).SetRcode(query, dns.RcodeServerFailure)
}

// localAnswer returns the reply to a query that the container's networks
// can answer, truncated to the size the client accepts, or nil when the
// query must be forwarded. It needs no sockets.
func (d *EmbeddedDNS) localAnswer(network string, query *dns.Msg) *dns.Msg {
	q := query.Question[0]
	var resp *dns.Msg
	switch q.Qtype {
	case dns.TypeA, dns.TypeAAAA:
		addrs, ok := d.table.lookup(q.Name)
		if !ok {
			return nil
		}
		resp = newReply(query)
		// Labs are IPv4-only, so a known name has no AAAA records and the
		// reply to AAAA is an empty NOERROR.
		if q.Qtype == dns.TypeA {
			rand.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
			for _, a := range addrs {
				resp.Answer = append(resp.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: embeddedTTL},
					A:   a.AsSlice(),
				})
			}
		}
	case dns.TypeMX:
		// A known name gets an empty NOERROR, so mail clients fall back to
		// its address records (RFC 5321 section 5.1).
		if _, ok := d.table.lookup(q.Name); !ok {
			return nil
		}
		resp = newReply(query)
	case dns.TypePTR:
		host, ok := d.table.lookupPTR(q.Name)
		if !ok {
			return nil
		}
		resp = newReply(query)
		resp.Answer = append(resp.Answer, &dns.PTR{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: embeddedTTL},
			Ptr: dns.Fqdn(host),
		})
	default:
		// SRV records exist only for swarm services, so SRV and all other
		// types are forwarded.
		return nil
	}
	resp.Truncate(maxReplySize(network, query))
	return resp
}

// newReply returns an empty NOERROR reply to query, without the
// authoritative flag and with recursion available, as Docker sends it.
func newReply(query *dns.Msg) *dns.Msg {
	resp := new(dns.Msg).SetReply(query)
	resp.RecursionAvailable = true
	return resp
}

// maxReplySize returns the largest reply the client accepts: 64 KiB over
// TCP, otherwise 512 bytes or the EDNS(0) buffer size of the query.
func maxReplySize(network string, query *dns.Msg) int {
	if network == "tcp" {
		return dns.MaxMsgSize
	}
	size := dns.MinMsgSize
	if opt := query.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
		size = int(opt.UDPSize())
	}
	return size
}

// forwardQuery sends query to the upstream server once and returns its
// reply as is, or nil when the exchange failed or the upstream server
// answered SERVFAIL or REFUSED. The caller then answers SERVFAIL, as
// Docker does when no upstream server is left to try.
func (d *EmbeddedDNS) forwardQuery(ctx context.Context, network string, query *dns.Msg) *dns.Msg {
	log := d.logger.With("container", d.container, "question", query.Question[0].String(),
		"upstream", network+":"+d.upstream.String())
	if d.forward == nil {
		log.Debug("embedded DNS has no way to reach the upstream server")
		return nil
	}

	ctx, cancel := context.WithTimeout(ctx, forwardTimeout)
	defer cancel()
	select {
	case d.slots <- struct{}{}:
		defer func() { <-d.slots }()
	case <-ctx.Done():
		log.Debug("embedded DNS has too many queries in flight", "max", maxForwards)
		return new(dns.Msg).SetRcode(query, dns.RcodeRefused)
	}

	conn, err := d.forward(ctx, network, d.upstream.String())
	if err != nil {
		log.Debug("embedded DNS failed to connect to the upstream server", "error", err)
		return nil
	}
	defer conn.Close()
	client := &dns.Client{
		Timeout: forwardTimeout,
		// Accept oversized UDP replies from upstream servers that ignore
		// the size limit, so they can be relayed as they are.
		UDPSize: dns.MaxMsgSize,
	}
	resp, _, err := client.ExchangeWithConnContext(ctx, query, &dns.Conn{Conn: conn})
	if err != nil || resp == nil {
		log.Debug("embedded DNS query to the upstream server failed", "error", err)
		return nil
	}
	if resp.Rcode == dns.RcodeServerFailure || resp.Rcode == dns.RcodeRefused {
		log.Debug("upstream DNS server returned failure", "rcode", dns.RcodeToString[resp.Rcode])
		return nil
	}
	resp.Compress = true
	return resp
}
