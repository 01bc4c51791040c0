package netns

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/topolab/topolab/topology"
)

// outsideTTL is the TTL of the outside server's records.
const outsideTTL = 300

// OutsideDNS is the simulated internet's DNS server at the outside router,
// the upstream of the lab host and of every embedded DNS server. It is
// authoritative for the names of the topology's outside hosts and answers
// NXDOMAIN for every other name. An OutsideDNS is safe for concurrent use.
type OutsideDNS struct {
	hosts  map[string][]netip.Addr
	logger *slog.Logger
}

// NewOutsideDNS returns a server for the A records of hosts. Names are
// matched case-insensitively, and a name listed twice has both addresses. Only
// IPv4 addresses get records.
func NewOutsideDNS(hosts []*topology.OutsideHost) *OutsideDNS {
	s := &OutsideDNS{hosts: map[string][]netip.Addr{}, logger: discardLogger}
	for _, h := range hosts {
		key := strings.ToLower(dns.Fqdn(h.Name))
		if !h.Address.Is4() || containsAddr(s.hosts[key], h.Address) {
			continue
		}
		s.hosts[key] = append(s.hosts[key], h.Address)
	}
	return s
}

// SetLogger sets the logger of the server's debug records. Nil discards
// them. Call it before Serve.
func (s *OutsideDNS) SetLogger(logger *slog.Logger) {
	if logger == nil {
		logger = discardLogger
	}
	s.logger = logger
}

// Serve answers queries on udp and tcp until ctx is done, then closes both
// sockets and returns nil. Either socket may be nil. The caller opens them
// on the outside router's address, port 53, in the outside namespace. If a
// socket fails or is closed by someone else, Serve stops the other and
// returns the error.
func (s *OutsideDNS) Serve(ctx context.Context, udp net.PacketConn, tcp net.Listener) error {
	return serveDNS(ctx, dns.HandlerFunc(func(w dns.ResponseWriter, query *dns.Msg) {
		resp := s.Answer(w.LocalAddr().Network(), query)
		if resp == nil {
			return
		}
		writeReply(w, query, resp, s.logger)
	}), udp, tcp)
}

// Answer returns the reply to query, which arrived over network ("udp" or
// "tcp"). A known name gets its A records, and for other types an empty
// NOERROR. Every other name gets NXDOMAIN. It returns nil, meaning no
// reply, for a query without a question.
func (s *OutsideDNS) Answer(network string, query *dns.Msg) *dns.Msg {
	if query == nil || len(query.Question) == 0 {
		return nil
	}
	q := query.Question[0]
	resp := new(dns.Msg).SetReply(query)
	resp.Authoritative = true
	resp.RecursionAvailable = true
	addrs, ok := s.hosts[strings.ToLower(q.Name)]
	if !ok || q.Qclass != dns.ClassINET {
		resp.Rcode = dns.RcodeNameError
		return resp
	}
	if q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY {
		for _, a := range addrs {
			resp.Answer = append(resp.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: outsideTTL},
				A:   a.AsSlice(),
			})
		}
	}
	resp.Truncate(maxReplySize(network, query))
	return resp
}
