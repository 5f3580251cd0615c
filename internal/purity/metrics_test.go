package purity

import (
	"os/exec"
	"strings"
	"testing"
)

// measured are the packages whose work /metrics shows; they declare small
// observer interfaces (sqldb.Observer, worker.SendObserver,
// wechat.TokenObserver) and leave Prometheus to package metrics and httpapi.
var measured = []string{"sqldb", "worker", "wechat", "engine"}

// TestMetricsStayAtTheEdge fails when a measured package, or anything it
// depends on, imports the Prometheus client, naming the importer. The
// domain packages are held to it too.
func TestMetricsStayAtTheEdge(t *testing.T) {
	for _, name := range append(measured, domain...) {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+name).Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", name, err)
			}
			for line := range strings.Lines(string(out)) {
				fields := strings.Fields(line)
				for _, imp := range fields[min(1, len(fields)):] {
					if strings.HasPrefix(imp, "github.com/prometheus/") {
						t.Errorf("%s must not depend on Prometheus: %s imports %s", name, fields[0], imp)
					}
				}
			}
		})
	}
}
