package render

import (
	"go/build"
	"strings"
	"testing"
)

// forbiddenImports are what render must not depend on, directly or through
// another package of this module: the runtimes and netlink.
var forbiddenImports = []string{
	"github.com/topolab/topolab/topology/netns",
	"github.com/topolab/topolab/topology/docker",
	"github.com/vishvananda/netlink",
	"github.com/mdlayher/netlink",
}

func TestRenderImportsNoRuntime(t *testing.T) {
	const module = "github.com/topolab/topolab/"
	seen := map[string]bool{}
	queue := []string{module + "render"}
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		if seen[path] {
			continue
		}
		seen[path] = true
		for _, bad := range forbiddenImports {
			if path == bad || strings.HasPrefix(path, bad+"/") {
				t.Errorf("render depends on %s", path)
			}
		}
		if !strings.HasPrefix(path, module) {
			continue
		}
		pkg, err := build.Import(path, ".", 0)
		if err != nil {
			t.Fatalf("reading package %s: %v", path, err)
		}
		queue = append(queue, pkg.Imports...)
	}
}
