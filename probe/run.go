package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/topolab/topolab/topology"
)

// DefaultConcurrency is the default bound on probes in flight. A dropped
// probe costs a whole timeout, so the bound sets how many of those overlap.
// docs/benchmarks.md has the figures for the default probe set of a
// 50-container lab, of which about a third is dropped.
const DefaultConcurrency = 4096

// DefaultLookupConcurrency is the default bound on name lookups in flight.
// Without it, 4096 probes at once made the forwarding DNS servers fall
// behind on two cores, and lookups of outside names timed out.
const DefaultLookupConcurrency = 256

// RunOptions tunes Run.
type RunOptions struct {
	// Concurrency bounds the probes in flight; 0 means DefaultConcurrency.
	Concurrency int
	// Timeout bounds each network exchange of a probe: an echo, a connect, a
	// query. A silently dropped probe costs one Timeout; 0 means 1 s.
	Timeout time.Duration
	// Logger receives one debug line per probe; nil discards.
	Logger *slog.Logger
	// LookupConcurrency bounds the name lookups in flight, which load the
	// embedded and outside DNS servers; 0 means DefaultLookupConcurrency.
	LookupConcurrency int

	lookups chan struct{}
}

func (o RunOptions) withDefaults() RunOptions {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.LookupConcurrency <= 0 {
		o.LookupConcurrency = DefaultLookupConcurrency
	}
	o.lookups = make(chan struct{}, o.LookupConcurrency)
	return o
}

// Run probes every spec on lab in parallel and returns the results in spec
// order, each observed and compared with the prediction of m.
func Run(ctx context.Context, lab topology.Lab, m *Model, specs []topology.ProbeSpec, opts RunOptions) []Result {
	opts = opts.withDefaults()
	results := make([]Result, len(specs))
	sem := make(chan struct{}, opts.Concurrency)
	var wg sync.WaitGroup
	for i, spec := range specs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = runOne(ctx, lab, m, spec, opts)
			r := &results[i]
			opts.Logger.Debug("probe", "from", r.From, "to", r.To, "kind", r.Kind, "by", r.By,
				"address", r.Address, "result", r.Result, "predicted", r.Predicted, "detail", r.Detail)
		}()
	}
	wg.Wait()
	return results
}

// Surprises counts the results whose observation differs from prediction.
func Surprises(results []Result) int {
	n := 0
	for _, r := range results {
		if r.Surprise {
			n++
		}
	}
	return n
}

func runOne(ctx context.Context, lab topology.Lab, m *Model, spec topology.ProbeSpec, opts RunOptions) Result {
	pred := m.Predict(spec)
	r := newResult(spec)
	r.Predicted, r.Reason, r.PredictedSource = pred.Predicted, pred.Reason, pred.PredictedSource
	observe(ctx, lab, m, spec, opts, &r)
	r.Surprise = r.Result != r.Predicted
	return r
}

// prober runs the exchanges of one probe from one node.
type prober struct {
	node topology.Node
	// source, when valid, is bound for every destination. Otherwise
	// selector, when not nil, names the source to bind per destination.
	source   netip.Addr
	selector topology.SourceSelector
	timeout  time.Duration
	// guard, when not nil, limits the addresses the node may send to.
	guard topology.TargetGuard
	// lookups bounds the name lookups in flight across the run.
	lookups chan struct{}
}

// sourceFor returns the address to bind before sending to dst, or the zero
// Addr to let the kernel choose.
func (p *prober) sourceFor(dst netip.Addr) netip.Addr {
	if p.source.IsValid() {
		return p.source
	}
	if p.selector != nil {
		return p.selector.SourceFor(dst)
	}
	return netip.Addr{}
}

func observe(ctx context.Context, lab topology.Lab, m *Model, spec topology.ProbeSpec, opts RunOptions, r *Result) {
	node := lab.Node(spec.From)
	if node == nil {
		r.Result, r.Detail = Error, fmt.Sprintf("node %s is not in the lab", spec.From)
		return
	}
	target, err := m.TargetOf(spec)
	if err != nil {
		r.Result, r.Detail = Error, err.Error()
		return
	}
	p := &prober{node: node, timeout: opts.Timeout, lookups: opts.lookups}
	if sa, ok := node.(topology.SourceAddresser); ok {
		p.source = sa.SourceAddr()
	}
	p.guard = m.guardOf(lab, node, spec.From)
	p.selector = m.selectorOf(lab, node, spec.From)
	if err := node.Do(func() error { return nil }); errors.Is(err, topology.ErrNotLocal) {
		// Busybox sends name lookups to the node's own resolver, so a
		// guarded node may look a name up only when that resolver is
		// allowed.
		check := target.Address
		if target.Name != "" {
			if check, err = m.resolverOf(spec.From); err != nil {
				r.Result, r.Detail = Error, err.Error()
				return
			}
		}
		if p.rejects(check, spec.From, r) {
			return
		}
		observeByExec(ctx, node, spec, target, r)
		return
	}

	addr := target.Address
	if target.Name != "" {
		var done bool
		if addr, done = p.resolve(ctx, m, spec, target.Name, r); done {
			return
		}
	}
	r.Address = addr.String()
	if p.rejects(addr, spec.From, r) {
		return
	}

	ex := p.exchange(ctx, spec.Kind, addr, target.Port)
	r.Result = ex.result()
	if ex.err != nil {
		r.Detail = ex.err.Error()
	}
	if r.Result == OK {
		ms := float64(ex.rtt.Microseconds()) / 1000
		r.RTTMillis = &ms
	}
	if ex.seen != "" {
		seen := ex.seen
		r.SeenSource = &seen
	}
}

// guardOf returns the target guard of a probe source: the node's own, or
// for a container in host network mode the host node's, since it shares
// the host's namespace.
func (m *Model) guardOf(lab topology.Lab, node topology.Node, from string) topology.TargetGuard {
	if g, ok := node.(topology.TargetGuard); ok {
		return g
	}
	if e, err := m.endpointOf(from); err == nil && e.onHost() {
		if g, ok := lab.Node(topology.HostNode).(topology.TargetGuard); ok {
			return g
		}
	}
	return nil
}

// selectorOf returns the source selector of a probe source, found as
// guardOf finds its guard, so that a guard that allows a destination only
// from a bound source is always paired with the selector that binds it.
func (m *Model) selectorOf(lab topology.Lab, node topology.Node, from string) topology.SourceSelector {
	if s, ok := node.(topology.SourceSelector); ok {
		return s
	}
	if _, ok := node.(topology.TargetGuard); ok {
		return nil
	}
	if e, err := m.endpointOf(from); err == nil && e.onHost() {
		if s, ok := lab.Node(topology.HostNode).(topology.SourceSelector); ok {
			return s
		}
	}
	return nil
}

// observeByExec runs a probe through busybox inside the node, for nodes
// whose namespace this process cannot enter, such as containers of a
// remote Docker daemon. Busybox resolves names itself, as the container's
// own programs do.
func observeByExec(ctx context.Context, node topology.Node, spec topology.ProbeSpec, target Target, r *Result) {
	host := target.Name
	if host == "" {
		host = target.Address.String()
	}
	switch spec.Kind {
	case topology.KindPing:
		ExecPing(ctx, node, host, r)
	case topology.KindDNS:
		ExecLookup(ctx, node, host, r)
	case topology.KindHTTP, topology.KindTCP:
		ExecHTTP(ctx, node, host, target.Port, r)
	default:
		r.Result = Error
		r.Detail = fmt.Sprintf("%s probes need a namespace this process can enter; busybox has no UDP client", spec.Kind)
	}
}

// resolve looks name up at the source's resolver and records the answer in
// r. It returns the first address, and done when the probe ends there: the
// name did not resolve, or the probe is a dns probe.
func (p *prober) resolve(ctx context.Context, m *Model, spec topology.ProbeSpec, name string, r *Result) (netip.Addr, bool) {
	resolver, err := m.resolverOf(spec.From)
	if err != nil {
		r.Result, r.Detail = Error, err.Error()
		return netip.Addr{}, true
	}
	if p.rejects(resolver, spec.From, r) {
		return netip.Addr{}, true
	}
	p.lookups <- struct{}{}
	addrs, err := p.lookup(ctx, resolver, name)
	<-p.lookups
	r.Resolved = make([]string, len(addrs))
	for i, a := range addrs {
		r.Resolved[i] = a.String()
	}
	if err != nil || len(addrs) == 0 {
		r.Result = NoName
		if err != nil {
			r.Detail = err.Error()
		}
		return netip.Addr{}, true
	}
	if spec.Kind == topology.KindDNS {
		r.Address, r.Result = addrs[0].String(), OK
		return addrs[0], true
	}
	return addrs[0], false
}

// rejects records an error in r and returns true when the source node may
// not send to addr.
func (p *prober) rejects(addr netip.Addr, from string, r *Result) bool {
	if p.guard == nil || p.guard.AllowsTarget(addr) {
		return false
	}
	r.Result = Error
	r.Detail = fmt.Sprintf("not sent: %s is not a lab address, and %s shares its namespace with this machine", addr, from)
	return true
}

// exchange runs the network exchange of a probe kind.
func (p *prober) exchange(ctx context.Context, kind string, addr netip.Addr, port uint16) exchange {
	switch kind {
	case topology.KindPing:
		return p.ping(ctx, addr)
	case topology.KindTCP:
		return p.tcp(ctx, netip.AddrPortFrom(addr, port))
	case topology.KindHTTP:
		return p.http(ctx, netip.AddrPortFrom(addr, port))
	case topology.KindUDP:
		return p.udp(ctx, netip.AddrPortFrom(addr, port))
	}
	return exchange{err: fmt.Errorf("unknown probe kind %q", kind)}
}

// resolverOf returns the DNS server a node's resolv.conf names.
func (m *Model) resolverOf(node string) (netip.Addr, error) {
	e, err := m.endpointOf(node)
	if err != nil {
		return netip.Addr{}, err
	}
	if e.container != nil {
		return e.container.Resolver, nil
	}
	return m.Plan.Router, nil
}

// exchange is the outcome of one network exchange.
type exchange struct {
	rtt time.Duration
	// seen is the client address the responder reported, "" if none.
	seen string
	// verdict overrides the result derived from err, for replies such as
	// an ICMP destination unreachable.
	verdict string
	err     error
}

func (e exchange) result() string {
	if e.verdict != "" {
		return e.verdict
	}
	return classify(e.err)
}

// classify maps a socket error to a result word.
func classify(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return OK
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.EADDRNOTAVAIL):
		return Unreachable
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return Timeout
	}
	return Error
}

// dial opens a connection from inside the node's namespace, bound to the
// source address sourceFor returns for the destination.
func (p *prober) dial(ctx context.Context, network string, to netip.AddrPort) (net.Conn, error) {
	d := net.Dialer{Timeout: p.timeout}
	if src := p.sourceFor(to.Addr()); src.IsValid() {
		switch network {
		case "udp":
			d.LocalAddr = &net.UDPAddr{IP: src.AsSlice()}
		default:
			d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
		}
	}
	var conn net.Conn
	err := p.node.Do(func() error {
		var err error
		conn, err = d.DialContext(ctx, network, to.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	return conn, nil
}
