package probe

import (
	"net/netip"

	"github.com/topolab/topolab/topology"
)

// SchemaVersion is the version of the results JSON. Fields may be added
// within a version, never renamed or removed.
const SchemaVersion = 1

// Result words.
const (
	OK          = "ok"
	Timeout     = "timeout"     // dropped silently
	Refused     = "refused"     // TCP reset or ICMP port unreachable
	Unreachable = "unreachable" // no route, or an ICMP error
	NoName      = "no-name"     // the name does not resolve
	Error       = "error"       // the probe itself failed
	// Fail is valid only in expectations: any result but OK.
	Fail = "fail"
)

// Result is the outcome of one probe, observed, predicted or both. Its JSON
// form is the "results" entries of results.json.
type Result struct {
	From    string `json:"from"`
	To      string `json:"to,omitempty"`
	Kind    string `json:"kind"`
	By      string `json:"by"`
	Network string `json:"network,omitempty"`
	Name    string `json:"name,omitempty"`
	Port    int    `json:"port,omitempty"`
	Via     string `json:"via,omitempty"`

	// Address is the address tried: the target address for by-ip probes,
	// the resolved one for by-name probes, and empty when nothing resolved.
	Address string `json:"address"`
	// Result is the observed result word; for a prediction alone it equals
	// Predicted.
	Result    string `json:"result"`
	Predicted string `json:"predicted"`
	// Reason is a sentence naming the Docker rule behind Predicted.
	Reason string `json:"reason"`
	// RTTMillis is the round-trip time in milliseconds, nil when nothing
	// answered.
	RTTMillis *float64 `json:"rtt_ms"`
	// Resolved is the answer set of a name lookup, nil when none was made.
	Resolved []string `json:"resolved"`
	// SeenSource is the client address the server saw, for http, tcp and
	// udp probes to topolab's responders; nil when unknown.
	SeenSource *string `json:"seen_source"`
	// PredictedSource is the client address the server should see.
	PredictedSource string `json:"predicted_source,omitempty"`
	// Detail is the error text of a failed probe.
	Detail string `json:"detail,omitempty"`
	// Surprise is true when an observed result differs from the prediction.
	Surprise bool `json:"surprise"`
}

// Spec returns the probe that r is the result of.
func (r *Result) Spec() topology.ProbeSpec {
	return topology.ProbeSpec{From: r.From, To: r.To, Kind: r.Kind, By: r.By,
		Network: r.Network, Name: r.Name, Port: r.Port, Via: r.Via}
}

// Report is the content of results.json.
type Report struct {
	SchemaVersion int    `json:"schema_version"`
	Lab           string `json:"lab"`
	// Runtime is netns, docker, or predict when nothing ran.
	Runtime string   `json:"runtime"`
	Results []Result `json:"results"`
	// Surprises counts results whose observation differs from prediction.
	Surprises int `json:"surprises"`
	// Expectations are the checks of the file's expect section, when run.
	Expectations []ExpectationResult `json:"expectations,omitempty"`
	// Capture summarises the packet capture of a run: interfaces, packet
	// and drop counts, NAT translations. Nil when nothing was captured.
	Capture any `json:"capture,omitempty"`
}

// ExpectationResult is one expect entry checked against a result.
type ExpectationResult struct {
	Result
	Expected   string   `json:"expected"`
	ResolvesTo []string `json:"resolves_to,omitempty"`
	Passed     bool     `json:"passed"`
	// Failure is the reason the check failed, empty when it passed.
	Failure string `json:"failure,omitempty"`
}

// Target is the destination of a probe, decided from the plan before it
// runs.
type Target struct {
	// Node is the node expected to answer, or "" when unknown (a via
	// address that belongs to no node).
	Node string
	// Name is the name to look up for by-name probes.
	Name string
	// Address is the address to try; invalid for by-name probes until the
	// name is resolved.
	Address netip.Addr
	// Port is 0 for ping and dns.
	Port uint16
	// Network is the network of Address when it is a container's address.
	Network string
}
