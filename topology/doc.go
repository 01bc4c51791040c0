// Package topology defines topolab's topology file format and turns a file
// into a Plan: the subnets, addresses, interface names, default gateways,
// DNS names and port bindings that Docker Engine would choose for it.
//
// Load and Parse read a file strictly: unknown fields are errors, and every
// error names the file, line, column and field together with the fix.
// PlanTopology is pure and deterministic, so both runtimes build alike labs
// from the same file. The Runtime, Lab and Node interfaces that runtimes
// implement live here too, but no runtime does: this package imports neither
// netlink nor a Docker client.
package topology
