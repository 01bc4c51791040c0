// Package render draws a planned lab and its probe results for people. It
// writes a Graphviz diagram (DOT, SVG and PNG) of networks, containers, the
// Docker host and the simulated outside. It also writes an all-pairs
// reachability matrix (terminal table, Markdown, CSV and JSON) in which every
// cell gives the reason for its result.
//
// It works on a *topology.Plan and probe results only, so it needs no
// privileges and imports no runtime. It does not decide results: prediction
// and probing live in package probe.
//
// The diagram is laid out by Graphviz compiled to WebAssembly
// (github.com/goccy/go-graphviz), which also writes the SVG. The PNG is drawn
// in Go from the same layout, because that library's own PNG renderer
// distorts and drops edges.
package render
