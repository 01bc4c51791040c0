package topolab_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/topolab/topolab"

// Import paths that layers must keep out of their dependencies.
var (
	netlinkLibs = []string{"github.com/vishvananda/netlink", "github.com/mdlayher/netlink"}
	dockerLibs  = []string{
		"github.com/docker/docker",
		"github.com/moby/moby",
		"github.com/docker/go-docker",
		"github.com/fsouza/go-dockerclient",
	}
	runtimes = []string{module + "/topology/netns", module + "/topology/docker"}
)

// layerRule forbids the packages matching pattern to depend, directly or
// through other packages, on any import path under forbidden.
type layerRule struct {
	pattern   string
	forbidden []string
	// required is true for a layer that must exist, so that a renamed
	// package cannot make its rule pass by matching nothing.
	required bool
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

var layerRules = []layerRule{
	{module + "/topology", concat(netlinkLibs, []string{"github.com/google/nftables"}, dockerLibs, runtimes), true},
	{module + "/render/...", concat(netlinkLibs, runtimes), false},
	{module + "/probe/...", runtimes, false},
	{module + "/capture/...", runtimes, false},
}

// listedPackage holds the fields of go list -json that the rules need.
type listedPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
	DepOnly    bool
	Error      *struct{ Err string }
}

// listPackages runs go list -deps -json on patterns and returns every
// package it lists, roots and dependencies, by import path.
func listPackages(t *testing.T, patterns []string) map[string]*listedPackage {
	t.Helper()
	args := append([]string{"list", "-e", "-deps", "-json"}, patterns...)
	cmd := exec.Command("go", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]*listedPackage{}
	dec := json.NewDecoder(&stdout)
	for {
		p := new(listedPackage)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// matches reports whether importPath is matched by a go list pattern
// that is a plain path or ends in /...
func matches(pattern, importPath string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return importPath == base || strings.HasPrefix(importPath, base+"/")
	}
	return importPath == pattern
}

func under(importPath, prefix string) bool {
	return importPath == prefix || strings.HasPrefix(importPath, prefix+"/")
}

// importChain returns the shortest chain of imports from root to target,
// such as "a -> b -> target".
func importChain(pkgs map[string]*listedPackage, root, target string) string {
	prev := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == target {
			var chain []string
			for p := cur; p != ""; p = prev[p] {
				chain = append([]string{p}, chain...)
			}
			return strings.Join(chain, " -> ")
		}
		if p := pkgs[cur]; p != nil {
			for _, imp := range p.Imports {
				if _, seen := prev[imp]; !seen {
					prev[imp] = cur
					queue = append(queue, imp)
				}
			}
		}
	}
	return root + " -> ... -> " + target
}

// layerViolations checks rules against the listed packages and returns
// one line per forbidden dependency, and the patterns of required rules
// that matched no package.
func layerViolations(pkgs map[string]*listedPackage, rules []layerRule) (violations, missing []string) {
	paths := make([]string, 0, len(pkgs))
	for path := range pkgs {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, r := range rules {
		found := false
		for _, path := range paths {
			p := pkgs[path]
			if p.DepOnly || !matches(r.pattern, path) {
				continue
			}
			found = true
			for _, f := range r.forbidden {
				// One line per forbidden library: its root package when the
				// layer reaches it, else the first of its packages listed.
				hit := ""
				for _, dep := range p.Deps {
					if dep == f || (hit == "" && under(dep, f)) {
						hit = dep
					}
				}
				if hit != "" {
					violations = append(violations, path+" must not depend on "+f+": "+importChain(pkgs, path, hit))
				}
			}
		}
		if !found && r.required {
			missing = append(missing, r.pattern)
		}
	}
	return violations, missing
}

// TestLayering enforces which packages each layer may depend on: the
// topology package and the render, probe and capture layers stay free of
// the runtimes, so that they build and test without privileges, and the
// topology package needs neither netlink, nftables nor a Docker client.
func TestLayering(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not in PATH")
	}
	patterns := make([]string, len(layerRules))
	for i, r := range layerRules {
		patterns[i] = r.pattern
	}
	pkgs := listPackages(t, patterns)
	for _, p := range pkgs {
		if !p.DepOnly && p.Error != nil {
			t.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
	}
	violations, missing := layerViolations(pkgs, layerRules)
	for _, v := range violations {
		t.Error(v)
	}
	for _, m := range missing {
		t.Errorf("no package matches %s: update layerRules when a layer moves", m)
	}
}

// TestLayerViolationsReported checks the checker on a made-up graph in
// which topology reaches netlink through a helper package.
func TestLayerViolationsReported(t *testing.T) {
	pkgs := map[string]*listedPackage{
		module + "/topology":                {ImportPath: module + "/topology", Imports: []string{module + "/internal/helper"}, Deps: []string{module + "/internal/helper", "github.com/vishvananda/netlink/nl", "github.com/vishvananda/netns"}},
		module + "/internal/helper":         {ImportPath: module + "/internal/helper", DepOnly: true, Imports: []string{"github.com/vishvananda/netlink/nl"}},
		"github.com/vishvananda/netlink/nl": {ImportPath: "github.com/vishvananda/netlink/nl", DepOnly: true},
		module + "/render":                  {ImportPath: module + "/render", Deps: []string{"fmt"}},
	}
	violations, missing := layerViolations(pkgs, layerRules)
	want := module + "/topology must not depend on github.com/vishvananda/netlink: " +
		module + "/topology -> " + module + "/internal/helper -> github.com/vishvananda/netlink/nl"
	if len(violations) != 1 || violations[0] != want {
		t.Errorf("violations = %q, want [%q]", violations, want)
	}
	if len(missing) != 0 {
		t.Errorf("missing = %q, want none", missing)
	}

	delete(pkgs, module+"/topology")
	if _, missing := layerViolations(pkgs, layerRules); len(missing) != 1 || missing[0] != module+"/topology" {
		t.Errorf("missing = %q, want the topology package", missing)
	}
}
